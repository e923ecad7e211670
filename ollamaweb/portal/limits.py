"""A user's and a team's quota limits as the portal shows them.

Limits come from QuotaPolicy merged as the gateway merges them (quotas/policy.py); "used" comes
from the quota counters themselves (the same store the gateway reserves against), so an admin's
reset shows at once.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from asgiref.sync import async_to_sync
from django.db.models import Q

from ollamaweb.keys.models import ApiKey
from ollamaweb.quotas.checks import next_month
from ollamaweb.quotas.counters import DAY, GPU, KEY, MONTH, TEAM, TOKENS, USER, CounterKey, Scope
from ollamaweb.quotas.models import QuotaPolicy
from ollamaweb.quotas.policy import DEFAULT, ScopeLimits, merged, policies_by_scope
from ollamaweb.quotas.stores import current_store
from ollamaweb.teams.policy import charged_team

from .zones import quota_now

logger = logging.getLogger(__name__)
GPU_UNIT = ("GPU-seconds", 1000)


@dataclass
class LimitRow:
    label: str  # what it applies to: "All models", "Model llama3", "Key sk-abc… (laptop)", "Team Lab"
    period: str  # "Today" / "This month" / "Per minute" / "At once"
    limit: int
    used: float | None = None  # tokens or GPU-seconds; None for rate and concurrency limits
    resets_at: datetime | None = None
    unit: str = "tokens"
    per_unit: int = 1  # counter units per unit shown (GPU time is counted in milliseconds)
    shared: bool = False  # a team's limit: `used` is the whole team's use

    @property
    def gpu(self) -> bool:
        """A GPU-time limit (limit and used in seconds)."""
        return self.unit == GPU_UNIT[0]

    @property
    def percent(self) -> float:
        return min(100.0, 100.0 * (self.used or 0) / self.limit) if self.limit else 100.0

    @property
    def remaining(self) -> int:
        return max(0, self.limit - (self.used or 0))


def period_bounds(now: datetime | None = None) -> tuple[datetime, datetime]:
    """When today's and this month's counters reset (local time, as the quota checks use)."""
    now = now or quota_now()
    day_end = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return day_end, next_month(now)


def _scopes(user) -> list[tuple[str, ScopeLimits]]:
    """(label, limits) for the user, each per-model policy, and each of the user's live keys."""
    keys = {key.pk: key for key in ApiKey.objects.usable().filter(user=user)}
    policies = policies_by_scope(
        QuotaPolicy.objects.filter(
            Q(user=user, api_key=None) | Q(user=None, api_key=None, team=None) | Q(api_key_id__in=list(keys))
        )
    )
    default, own = policies.get((DEFAULT, None, "")), policies.get((USER, user.pk, ""))
    scopes = [("All models", merged(Scope(USER, user.pk), default, own))]
    models = sorted({model for (owner, _, model) in policies if model and owner in (DEFAULT, USER)})
    for model in models:
        scope = merged(
            Scope(USER, user.pk, model), policies.get((DEFAULT, None, model)), policies.get((USER, user.pk, model))
        )
        scopes.append((f"Model {model}", scope))
    key_policies = sorted((key_id, model) for (owner, key_id, model) in policies if owner == KEY)
    for key_id, model in key_policies:
        key = keys[key_id]
        label = f"Key “{key.name or 'unnamed'}” ({key.prefix}…)" + (f", model {model}" if model else "")
        scopes.append((label, merged(Scope(KEY, key_id, model), policies.get((KEY, key_id, model)))))
    return [(label, scope) for label, scope in scopes if not scope.empty]


def _team_scopes(team, prefix: str = "") -> list[tuple[str, ScopeLimits]]:
    """(label, limits) for the team on all models, then on each model it has a policy for.

    A team's policy stands alone (the default policy is for people, not teams)."""
    policies = sorted(QuotaPolicy.objects.filter(team=team), key=lambda policy: (bool(policy.model), policy.model))
    scopes = []
    for policy in policies:
        on = f"model {policy.model}" if policy.model else "all models"
        label = f"{prefix}, {on}" if prefix else on[0].upper() + on[1:]
        scopes.append((label, merged(Scope(TEAM, team.pk, policy.model), policy)))
    return [(label, scope) for label, scope in scopes if not scope.empty]


def _rows_for(label: str, scope: ScopeLimits, now: datetime) -> list[tuple[LimitRow, str | None]]:
    day_end, month_end = period_bounds(now)
    rows: list[tuple[LimitRow, str | None]] = []
    if scope.tokens_per_day is not None:
        counter = str(CounterKey(scope.scope, TOKENS, DAY, f"{now:%Y-%m-%d}"))
        rows.append((LimitRow(label, "Today", scope.tokens_per_day, 0, day_end), counter))
    if scope.tokens_per_month is not None:
        counter = str(CounterKey(scope.scope, TOKENS, MONTH, f"{now:%Y-%m}"))
        rows.append((LimitRow(label, "This month", scope.tokens_per_month, 0, month_end), counter))
    if scope.gpu_seconds_per_day is not None:
        counter = str(CounterKey(scope.scope, GPU, DAY, f"{now:%Y-%m-%d}"))
        rows.append((LimitRow(label, "Today", scope.gpu_seconds_per_day, 0, day_end, *GPU_UNIT), counter))
    if scope.gpu_seconds_per_month is not None:
        counter = str(CounterKey(scope.scope, GPU, MONTH, f"{now:%Y-%m}"))
        rows.append((LimitRow(label, "This month", scope.gpu_seconds_per_month, 0, month_end, *GPU_UNIT), counter))
    if scope.requests_per_minute is not None:
        rows.append((LimitRow(label, "Per minute", scope.requests_per_minute, unit="requests"), None))
    if scope.max_concurrent is not None:
        rows.append((LimitRow(label, "At once", scope.max_concurrent, unit="requests in flight"), None))
    for row, _ in rows:
        row.shared = scope.scope.owner == TEAM
    return rows


def _with_usage(rows: list[tuple[LimitRow, str | None]]) -> str:
    """Fill each row's `used` from the quota store; returns an error message if it could not be read."""
    counters = [counter for _, counter in rows if counter]
    if not counters:
        return ""
    try:
        used = async_to_sync(current_store().usage)(counters)
    except Exception as exc:  # a down Redis must not break the page
        logger.warning("could not read quota counters: %s", exc)
        for row, counter in rows:
            if counter:
                row.used = None
        return "Current usage against limits is unavailable right now."
    for row, counter in rows:
        if counter:
            row.used = used.get(counter, 0) / row.per_unit
    return ""


_FIELDS = {
    ("Today", False): "tokens_per_day", ("This month", False): "tokens_per_month",
    ("Today", True): "gpu_seconds_per_day", ("This month", True): "gpu_seconds_per_month",
}  # fmt: skip


def rows_by_field(rows: list[LimitRow], label: str) -> dict[str, LimitRow]:
    """The metered rows of one scope (a label) by the QuotaPolicy field they show, for quota forms."""
    return {_FIELDS[row.period, row.gpu]: row for row in rows if row.label == label and row.resets_at}


def _limit_rows(scopes, now: datetime | None) -> tuple[list[LimitRow], str]:
    now = now or quota_now()
    rows: list[tuple[LimitRow, str | None]] = []
    for label, scope in scopes:
        rows += _rows_for(label, scope, now)
    error = _with_usage(rows)
    return [row for row, _ in rows], error


def limits_for(user, now: datetime | None = None) -> tuple[list[LimitRow], str]:
    """The user's limit rows with current usage, and an error message if counters were unreadable.

    Besides the user's and their keys' own limits, those of the team their personal keys are
    charged to (teams.policy.team_for), labelled with its name, with the whole team's usage.
    Periods are the quota calendar's (the server's zone), whatever zone the page shows times in.
    """
    team = charged_team(user)
    return _limit_rows(_scopes(user) + (_team_scopes(team, f"Team {team.name}") if team else []), now)


def team_limits(team, now: datetime | None = None) -> tuple[list[LimitRow], str]:
    """The team's limit rows (all models, each model) with the team's usage against them."""
    return _limit_rows(_team_scopes(team), now)


def key_limits(keys, now: datetime | None = None) -> tuple[dict[int, list[LimitRow]], str]:
    """Each key's own limits (the key's policies, all models and per model) with current usage."""
    now = now or quota_now()
    keys = {key.pk: key for key in keys}
    policies = QuotaPolicy.objects.filter(api_key_id__in=list(keys)).order_by("api_key_id", "model")
    rows: list[tuple[LimitRow, str | None]] = []
    owners: list[int] = []
    for policy in policies:
        label = f"Model {policy.model}" if policy.model else "All models"
        for row in _rows_for(label, merged(Scope(KEY, policy.api_key_id, policy.model), policy), now):
            rows.append(row)
            owners.append(policy.api_key_id)
    error = _with_usage(rows)
    by_key: dict[int, list[LimitRow]] = {}
    for (row, _), owner in zip(rows, owners):
        by_key.setdefault(owner, []).append(row)
    return by_key, error
