"""Alerts to webhooks: a backend going down or coming back, a user passing 80 % and 100 % of a token
quota, the error rate above a webhook's threshold.

Conditions become Alert rows whose unique `key` names the condition (the backend event, the user,
period and threshold, the error-rate episode), so each alert is raised once however many processes
or requests see it. Each alert gets one AlertDelivery per subscribed webhook, sent by a background
task in every gateway process (claimed row by row, so one process sends each), retried with
exponential back-off, never on a request's path. Webhooks are configured in the admin.
"""

import asyncio
import logging
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

THRESHOLDS = (100, 80)  # percent of a token quota, highest first
MAX_PENDING_USERS = 100_000  # users whose quotas wait for the next round


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


def user_token_limits(user_id: int) -> dict[str, int]:
    """The user's own token limits (the default policy overridden by theirs), all models."""
    from ollamaweb.quotas.models import QuotaPolicy

    limits = {}
    for policy in QuotaPolicy.objects.filter(Q(user=None) | Q(user_id=user_id), api_key=None, model="").order_by(
        F("user_id").asc(nulls_first=True)
    ):
        for name in ("tokens_per_day", "tokens_per_month"):
            if getattr(policy, name) is not None:
                limits[name] = getattr(policy, name)
    return limits


def check_quotas(user_ids, webhooks, today=None):
    """Raise an alert for each user past 80 % or 100 % of a token quota (once per period and threshold).

    Usage comes from the rollups (as written by the log writer), in the quota calendar's time zone.
    """
    from django.contrib.auth import get_user_model

    from ollamaweb.usage.models import UsageRollup

    today = today or timezone.localdate()
    periods = {
        "tokens_per_day": ("daily", today, today.isoformat()),
        "tokens_per_month": ("monthly", today.replace(day=1), today.strftime("%Y-%m")),
    }
    for user_id in user_ids:
        limits = user_token_limits(user_id)
        for name, limit in limits.items():
            if not limit:
                continue
            label, since, period = periods[name]
            used = (
                UsageRollup.objects.filter(user_id=user_id, day__gte=since, day__lte=today).aggregate(
                    tokens=Sum(F("prompt_tokens") + F("completion_tokens"))
                )["tokens"]
                or 0
            )
            percent = used * 100 / limit
            reached = next((t for t in THRESHOLDS if percent >= t), None)
            if reached is None:
                continue
            username = get_user_model().objects.filter(pk=user_id).values_list("username", flat=True).first()
            raise_alert(
                Alert.QUOTA,
                f"quota:u{user_id}:{name}:{period}:{reached}",
                f"{username} has used {percent:.0f} % of their {label} token quota",
                f"{used:,} of {limit:,} tokens ({period}).",
                {"user": username, "limit": name, "period": period, "used": used, "quota": limit, "threshold": reached},
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


def evaluate(user_ids):
    """One round of the conditions that are polled (backend changes come by signal)."""
    webhooks = list(AlertWebhook.objects.filter(enabled=True))
    if not webhooks:
        return
    quota = [w for w in webhooks if w.on_quota]
    if quota and user_ids:
        check_quotas(user_ids, quota)
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
        self._users: set[int] = set()
        self._last_error = ""

    def note(self, record):
        """A usage hook: remember users who used tokens (their quotas are checked next round)."""
        if record.user_id is not None and (record.prompt_tokens or record.completion_tokens):
            if len(self._users) < MAX_PENDING_USERS:  # (bounded: nobody drains it when rounds are off)
                self._users.add(record.user_id)
        self.ensure_running()

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
        users, self._users = self._users, set()
        await run_in_thread(evaluate, users)
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
