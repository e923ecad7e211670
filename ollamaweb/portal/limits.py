"""A user's quota limits as the portal shows them.

Limits come from QuotaPolicy merged as the gateway merges them (quotas/policy.py); "used" comes
from the quota counters themselves (the same store the gateway reserves against), so an admin's
reset shows at once.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from asgiref.sync import async_to_sync
from django.db.models import Q
from django.utils import timezone

from ollamaweb.keys.models import ApiKey
from ollamaweb.quotas.checks import next_month
from ollamaweb.quotas.counters import DAY, KEY, MONTH, TOKENS, USER, CounterKey, Scope
from ollamaweb.quotas.models import QuotaPolicy
from ollamaweb.quotas.policy import ScopeLimits, merged, policies_by_scope
from ollamaweb.quotas.stores import current_store

logger = logging.getLogger(__name__)


@dataclass
class LimitRow:
    label: str  # what the limit applies to: "All models", "Model llama3", "Key sk-abc… (laptop)"
    period: str  # "Today" / "This month" / "Per minute" / "At once"
    limit: int
    used: int | None = None  # tokens; None for rate and concurrency limits
    resets_at: datetime | None = None
    unit: str = "tokens"

    @property
    def percent(self) -> float:
        return min(100.0, 100.0 * (self.used or 0) / self.limit) if self.limit else 100.0

    @property
    def remaining(self) -> int:
        return max(0, self.limit - (self.used or 0))


def period_bounds(now: datetime | None = None) -> tuple[datetime, datetime]:
    """When today's and this month's counters reset (local time, as the quota checks use)."""
    now = now or timezone.localtime()
    day_end = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return day_end, next_month(now)


def _scopes(user) -> list[tuple[str, ScopeLimits]]:
    """(label, limits) for the user, each per-model policy, and each of the user's live keys."""
    keys = {key.pk: key for key in ApiKey.objects.usable().filter(user=user)}
    policies = policies_by_scope(
        QuotaPolicy.objects.filter(
            Q(user=user, api_key=None) | Q(user=None, api_key=None) | Q(api_key_id__in=list(keys))
        )
    )
    default, own = policies.get((None, None, "")), policies.get((user.pk, None, ""))
    scopes = [("All models", merged(Scope(USER, user.pk), default, own))]
    models = sorted({model for (_, key_id, model) in policies if model and key_id is None})
    for model in models:
        scope = merged(
            Scope(USER, user.pk, model), policies.get((None, None, model)), policies.get((user.pk, None, model))
        )
        scopes.append((f"Model {model}", scope))
    for (_, key_id, model), _policy in sorted(policies.items(), key=lambda item: (item[0][1] or 0, item[0][2])):
        if key_id is not None:
            key = keys[key_id]
            label = f"Key {key.prefix}… ({key.name or 'unnamed'})" + (f", model {model}" if model else "")
            scopes.append((label, merged(Scope(KEY, key_id, model), policies.get((None, key_id, model)))))
    return [(label, scope) for label, scope in scopes if not scope.empty]


def limits_for(user, now: datetime | None = None) -> tuple[list[LimitRow], str]:
    """The user's limit rows with current usage, and an error message if counters were unreadable."""
    now = now or timezone.localtime()
    day_end, month_end = period_bounds(now)
    rows: list[tuple[LimitRow, str | None]] = []
    for label, scope in _scopes(user):
        if scope.tokens_per_day is not None:
            counter = str(CounterKey(scope.scope, TOKENS, DAY, f"{now:%Y-%m-%d}"))
            rows.append((LimitRow(label, "Today", scope.tokens_per_day, 0, day_end), counter))
        if scope.tokens_per_month is not None:
            counter = str(CounterKey(scope.scope, TOKENS, MONTH, f"{now:%Y-%m}"))
            rows.append((LimitRow(label, "This month", scope.tokens_per_month, 0, month_end), counter))
        if scope.requests_per_minute is not None:
            rows.append((LimitRow(label, "Per minute", scope.requests_per_minute, unit="requests"), None))
        if scope.max_concurrent is not None:
            rows.append((LimitRow(label, "At once", scope.max_concurrent, unit="requests in flight"), None))
    counters = [counter for _, counter in rows if counter]
    error = ""
    if counters:
        try:
            used = async_to_sync(current_store().usage)(counters)
        except Exception as exc:  # a down Redis must not break the page
            logger.warning("could not read quota counters: %s", exc)
            used, error = {}, "Current usage against limits is unavailable right now."
        for row, counter in rows:
            if counter:
                row.used = used.get(counter, 0) if not error else None
    return [row for row, _ in rows], error
