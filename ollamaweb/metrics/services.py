"""Every write of the metrics app: alerts, their deliveries, conditions (ORM; call from threads)."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import Alert, AlertCondition, AlertDelivery, AlertWebhook

logger = logging.getLogger(__name__)

CLAIM_SECONDS = 60  # a claimed delivery another process may retry after this long


def raise_alert(kind: str, key: str, title: str, text: str = "", details=None, webhooks=None) -> Alert | None:
    """Create the alert and a delivery to each webhook, unless an alert with this key exists."""
    webhooks = list(webhooks) if webhooks is not None else list(AlertWebhook.objects.filter(enabled=True))
    if not webhooks:
        return None
    with transaction.atomic():
        alert, created = Alert.objects.get_or_create(
            key=key[:255], defaults={"kind": kind, "title": title[:300], "text": text, "details": details or {}}
        )
        if not created:
            return None
        now = timezone.now()
        AlertDelivery.objects.bulk_create(
            [AlertDelivery(alert=alert, webhook=webhook, next_attempt_at=now) for webhook in webhooks]
        )
    _wake_runner()
    return alert


def _wake_runner():
    from .alerts import alert_runner

    alert_runner.wake_threadsafe()


def set_condition(key: str, active: bool) -> bool:
    """Record that a condition is (in)active; True only for the one caller that changed it."""
    AlertCondition.objects.get_or_create(key=key)
    return bool(AlertCondition.objects.filter(key=key, active=not active).update(active=active))


def payload(delivery: AlertDelivery) -> dict:
    alert = delivery.alert
    if delivery.webhook.format == AlertWebhook.SLACK:
        return {"text": f"*{alert.title}*" + (f"\n{alert.text}" if alert.text else "")}
    return {
        "source": "ollamaweb",
        "kind": alert.kind,
        "key": alert.key,
        "title": alert.title,
        "text": alert.text,
        "details": alert.details,
        "created_at": alert.created_at.isoformat(),
    }


def claim_due(limit: int = 50) -> list[tuple[int, str, dict]]:
    """Pending deliveries that are due, claimed for CLAIM_SECONDS: [(id, url, body)]."""
    now = timezone.now()
    due = list(
        AlertDelivery.objects.filter(status=AlertDelivery.PENDING, next_attempt_at__lte=now)
        .select_related("alert", "webhook")
        .order_by("next_attempt_at")[:limit]
    )
    claimed = []
    for delivery in due:
        if AlertDelivery.objects.filter(
            pk=delivery.pk, status=AlertDelivery.PENDING, next_attempt_at=delivery.next_attempt_at
        ).update(next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS)):
            claimed.append((delivery.pk, delivery.webhook.url, payload(delivery)))
    return claimed


def record_outcome(delivery_id: int, error: str):
    delivery = AlertDelivery.objects.get(pk=delivery_id)
    delivery.attempts += 1
    if not error:
        delivery.status, delivery.sent_at, delivery.last_error = AlertDelivery.SENT, timezone.now(), ""
    else:
        delivery.last_error = error[:2000]
        if delivery.attempts >= settings.ALERT_MAX_ATTEMPTS:
            delivery.status = AlertDelivery.FAILED
            logger.error("alert delivery %s failed %d times, giving up: %s", delivery_id, delivery.attempts, error)
        else:
            delay = settings.ALERT_RETRY_SECONDS * 2 ** (delivery.attempts - 1)
            delivery.next_attempt_at = timezone.now() + timedelta(seconds=delay)
    delivery.save(update_fields=["attempts", "status", "sent_at", "last_error", "next_attempt_at"])
