"""The quota calendar: daily and monthly limits (and the usage rollups' days) follow the server's
zone, OLLAMAWEB_TIME_ZONE, whatever zone a portal page shows times in (see portal/zones.py)."""

from datetime import date, datetime

from django.utils import timezone


def quota_zone():
    return timezone.get_default_timezone()


def quota_now() -> datetime:
    return timezone.localtime(timezone.now(), quota_zone())


def quota_today() -> date:
    return quota_now().date()
