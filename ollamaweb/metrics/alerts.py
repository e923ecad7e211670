"""Alerts to webhooks: a backend going down or coming back, a user or team passing 80 % and 100 % of a
token or GPU-time quota, the error rate above a webhook's threshold.

Conditions become Alert rows whose unique `key` names the condition (the backend event, the user,
period and threshold, the error-rate episode), so each alert is raised once however many processes
or requests see it. Each alert gets one AlertDelivery per subscribed webhook, sent by a background
task in every gateway process (claimed row by row, so one process sends each), retried with
exponential back-off, never on a request's path. Webhooks are configured in the admin.
"""

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

import httpx2 as httpx
from django.conf import settings
from django.db.models import Count, F, Q, Sum
from django.db.models.signals import post_save
from django.utils import timezone

from ollamaweb.core.db import run_in_thread
from ollamaweb.core.tasks import spawn

from .models import Alert, AlertWebhook
from .services import claim_due, raise_alert, record_outcome, set_condition

logger = logging.getLogger(__name__)

THRESHOLDS = (100, 80)  # percent of a token or GPU-time quota, highest first
MAX_PENDING_OWNERS = 100_000  # users and teams whose quotas wait for the next round


# --- Conditions (ORM; called from threads) ---------------------------------------------------------


def backend_event_saved(sender, instance, created, **kwargs):
    """A BackendEvent (written once per up/down change by the health checks) → an alert."""
    if not created:
        return
    webhooks = list(AlertWebhook.objects.filter(enabled=True, on_backend=True))
    if not webhooks:
        return
    name = instance.backend.name
    if instance.up:
        title = f"Backend {name} is up again"
    else:
        title = f"Backend {name} is down"
    raise_alert(
        Alert.BACKEND,
        f"backend:{instance.pk}",
        title,
        instance.message,
        {"backend": name, "up": instance.up, "url": instance.backend.url, "at": instance.at.isoformat()},
        webhooks,
    )


@dataclass(frozen=True)
class QuotaOwner:
    """Whose quotas an alert watches: a user (their personal keys) or a team (all its use)."""

    kind: str  # "user" or "team"
    id: int

    def policies(self):
        from ollamaweb.quotas.models import QuotaPolicy

        mine = QuotaPolicy.objects.filter(api_key=None, model="")
        if self.kind == "team":
            return mine.filter(team_id=self.id)
        # The default for everyone, then the user's own, which overrides it field by field.
        return mine.filter(Q(user=None, team=None) | Q(user_id=self.id)).order_by(F("user_id").asc(nulls_first=True))

    def rollups(self):
        from ollamaweb.keys.models import ApiKey
        from ollamaweb.usage.models import UsageRollup

        if self.kind == "team":
            return UsageRollup.objects.filter(team_id=self.id)
        team_keys = ApiKey.objects.filter(team__isnull=False).values("prefix")  # the team's use, not the user's
        return UsageRollup.objects.filter(user_id=self.id).exclude(key_prefix__in=team_keys)

    def name(self) -> str:
        from django.contrib.auth import get_user_model

        from ollamaweb.teams.models import Team

        if self.kind == "team":
            name = Team.objects.filter(pk=self.id).values_list("name", flat=True).first()
            return f"Team {name}"
        return get_user_model().objects.filter(pk=self.id).values_list("username", flat=True).first() or ""


# limit → (what it counts, per day or month, its sum over rollups, the unit of the sum)
WATCHED_LIMITS = {
    "tokens_per_day": ("token", "daily", Sum(F("prompt_tokens") + F("completion_tokens")), "tokens"),
    "tokens_per_month": ("token", "monthly", Sum(F("prompt_tokens") + F("completion_tokens")), "tokens"),
    "gpu_seconds_per_day": ("GPU-time", "daily", Sum("gpu_ms") / 1000.0, "GPU-seconds"),
    "gpu_seconds_per_month": ("GPU-time", "monthly", Sum("gpu_ms") / 1000.0, "GPU-seconds"),
}


def quota_limits(owner: QuotaOwner) -> dict[str, int]:
    """The owner's token and GPU-time limits on all models."""
    limits = {}
    for policy in owner.policies():
        for name in WATCHED_LIMITS:
            if getattr(policy, name) is not None:
                limits[name] = getattr(policy, name)
    return limits


def check_quotas(owners, webhooks, today=None):
    """Raise an alert for each user or team past 80 % or 100 % of a token or GPU-time quota (once
    per period and threshold).

    Usage comes from the rollups (as written by the log writer), in the quota calendar's time zone.
    """
    today = today or timezone.localdate()
    starts = {"daily": (today, today.isoformat()), "monthly": (today.replace(day=1), today.strftime("%Y-%m"))}
    for owner in owners:
        for name, limit in quota_limits(owner).items():
            if not limit:
                continue
            what, label, total, unit = WATCHED_LIMITS[name]
            since, period = starts[label]
            used = owner.rollups().filter(day__gte=since, day__lte=today).aggregate(used=total)["used"] or 0
            percent = used * 100 / limit
            reached = next((t for t in THRESHOLDS if percent >= t), None)
            if reached is None:
                continue
            who = owner.name()
            whose = "its" if owner.kind == "team" else "their"
            used_text = f"{used:,}" if unit == "tokens" else f"{used:,.1f}"
            prefix = "u" if owner.kind == "user" else "team"
            raise_alert(
                Alert.QUOTA,
                f"quota:{prefix}{owner.id}:{name}:{period}:{reached}",
                f"{who} has used {percent:.0f} % of {whose} {label} {what} quota",
                f"{used_text} of {limit:,} {unit} ({period}).",
                {
                    owner.kind: who.removeprefix("Team "),
                    "limit": name,
                    "period": period,
                    "used": used,
                    "quota": limit,
                    "threshold": reached,
                },  # fmt: skip
                webhooks,
            )


def check_error_rates(webhooks, now=None):
    """Per webhook: alert when the share of 5xx answers in its window passes its threshold, and
    again (resolved) when it falls back; nothing in between however long it lasts."""
    from ollamaweb.usage.models import RequestLog

    now = now or timezone.now()
    counts = {}
    for webhook in webhooks:
        minutes = webhook.error_rate_window_minutes or 5
        if minutes not in counts:
            counts[minutes] = RequestLog.objects.filter(created_at__gte=now - timedelta(minutes=minutes)).aggregate(
                total=Count("id"), errors=Count("id", filter=Q(status__gte=500))
            )
        total, errors = counts[minutes]["total"], counts[minutes]["errors"]
        rate = errors / total if total else 0.0
        high = total >= webhook.error_rate_min_requests and rate > webhook.error_rate_threshold
        key = f"error_rate:w{webhook.pk}"
        if not set_condition(key, high):
            continue
        details = {
            "window_minutes": minutes,
            "requests": total,
            "errors": errors,
            "rate": round(rate, 4),
            "threshold": webhook.error_rate_threshold,
        }
        stamp = now.strftime("%Y%m%dT%H%M%S.%f")
        if high:
            title = (
                f"Error rate {rate * 100:.0f} % over the last {minutes} min "
                f"(threshold {webhook.error_rate_threshold * 100:.0f} %)"
            )
            text = f"{errors:,} of {total:,} requests failed with a server error."
        else:
            title = f"Error rate back to {rate * 100:.0f} % over the last {minutes} min"
            text = f"{errors:,} of {total:,} requests failed with a server error."
        raise_alert(Alert.ERROR_RATE, f"{key}:{'high' if high else 'clear'}:{stamp}", title, text, details, [webhook])


def evaluate(owners):
    """One round of the conditions that are polled (backend changes come by signal)."""
    webhooks = list(AlertWebhook.objects.filter(enabled=True))
    if not webhooks:
        return
    quota = [w for w in webhooks if w.on_quota]
    if quota and owners:
        check_quotas(owners, quota)
    errors = [w for w in webhooks if w.on_error_rate]
    if errors:
        check_error_rates(errors)


# --- Delivering ---------------------------------------------------------------------------------------


async def send(client, url: str, body: dict) -> str:
    """POST one alert; "" on success (2xx), else what went wrong."""
    try:
        response = await client.post(url, json=body)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}" or type(exc).__name__
    if 200 <= response.status_code < 300:
        return ""
    return f"HTTP {response.status_code}: {response.text[:200]}"


async def deliver_due() -> int:
    claimed = await run_in_thread(claim_due)
    if not claimed:
        return 0
    async with httpx.AsyncClient(timeout=settings.ALERT_TIMEOUT, follow_redirects=False) as client:
        errors = await asyncio.gather(*(send(client, url, body) for _, url, body in claimed))
    for (delivery_id, _, _), error in zip(claimed, errors):
        await run_in_thread(record_outcome, delivery_id, error)
    return len(claimed)


# --- The background task --------------------------------------------------------------------------


class AlertRunner:
    """One task per process: every ALERT_INTERVAL seconds (or when woken), evaluate and deliver."""

    def __init__(self):
        self._task: asyncio.Task | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._owners: set[QuotaOwner] = set()  # users and teams whose quotas are checked next round
        self._last_error = ""

    def note(self, record):
        """A usage hook: remember the users and teams who used tokens or GPU time (checked next round)."""
        if record.prompt_tokens or record.completion_tokens or record.gpu_ms:
            for kind, owner_id in (("user", record.user_id), ("team", record.team_id)):
                if owner_id is not None:
                    self.check_next_round(QuotaOwner(kind, owner_id))
        self.ensure_running()

    def check_next_round(self, owner: QuotaOwner):
        if len(self._owners) < MAX_PENDING_OWNERS:  # (bounded: nobody drains it when rounds are off)
            self._owners.add(owner)

    def ensure_running(self):
        if settings.ALERT_INTERVAL <= 0:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._task is None or self._task.done() or self._loop is not loop:
            self._loop, self._wake = loop, asyncio.Event()
            self._task = spawn(self._run(), name="ollamaweb-alerts")

    def wake_threadsafe(self):
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:
                pass

    async def _run(self):
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), settings.ALERT_INTERVAL)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.run_once()
                self._last_error = ""
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if str(exc) != self._last_error:  # once per distinct failure, not every round
                    logger.exception("alert round failed")
                self._last_error = str(exc)

    async def run_once(self) -> int:
        owners, self._owners = self._owners, set()
        await run_in_thread(evaluate, owners)
        return await deliver_due()

    async def stop(self):
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


alert_runner = AlertRunner()


def send_test_alert(webhook: AlertWebhook) -> Alert | None:
    now = timezone.now()
    return raise_alert(
        Alert.TEST,
        f"test:w{webhook.pk}:{now.isoformat()}",
        f"Test alert from ollamaweb to {webhook.name}",
        "If you can read this, alerts reach this webhook.",
        {},
        [webhook],
    )


def connect():
    """Called from MetricsConfig.ready()."""
    from ollamaweb.backends.models import BackendEvent
    from ollamaweb.usage import hooks

    post_save.connect(backend_event_saved, sender=BackendEvent, dispatch_uid="ollamaweb-alerts-backend-event")
    hooks.on_request_finished(alert_runner.note)
