"""Time zones: every time the portal (and the admin) shows is in one zone, the user's, and says so.

The zone is the one chosen in the user's profile, else the browser's (portal.js keeps it in the
TZ_COOKIE cookie), else the server's. Quota calendars (daily and monthly limits, the rollups'
days) stay in the server's OLLAMAWEB_TIME_ZONE whatever the user's zone: code that computes
periods uses quota_now()/quota_today(), never timezone.localtime() (which is the user's zone
inside a portal request).
"""

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django.utils import timezone

from ollamaweb.quotas.calendar import quota_now, quota_today, quota_zone

__all__ = ["quota_now", "quota_today", "quota_zone", "user_zone", "zone_named", "UserTimeZoneMiddleware"]

TZ_COOKIE = "ollamaweb_tz"
SESSION_KEY = "ollamaweb_time_zone"  # the profile's choice, copied into the session at sign-in


@lru_cache(maxsize=512)
def zone_named(name: str) -> ZoneInfo | None:
    """The zone with this IANA name, or None for anything else (cookie values are untrusted)."""
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


@lru_cache(maxsize=1)
def zone_choices() -> list[tuple[str, str]]:
    names = sorted(name for name in available_timezones() if "/" in name and not name.startswith(("Etc/", "SystemV/")))
    return [("UTC", "UTC"), *((name, name.replace("_", " ")) for name in names)]


def user_zone(request):
    """The zone a request's pages are shown in: profile, then browser, then server."""
    session = getattr(request, "session", None)
    chosen = zone_named(session.get(SESSION_KEY, "")) if session is not None else None
    return chosen or zone_named(request.COOKIES.get(TZ_COOKIE, "")) or quota_zone()


class UserTimeZoneMiddleware:
    """Activates the user's zone for the request (templates and the admin then show it)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        timezone.activate(user_zone(request))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
