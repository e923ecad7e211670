"""Which limits apply to a request: the policy table, cached per process, merged per scope.

The hierarchy (default → team → user → key) is one of nested budgets, and a request must fit
every one that applies:
- the **team** it is charged to (teams.policy.team_for: a team key's team, else the owner's
  default team): the team's policy, counted over the whole team's use;
- the **user** who owns a personal key: the default policy, overridden field by field by the
  user's own policy. A team (service) key's use is the team's, not a person's: no user limits;
- the **key**: the key's own policy.
Each also per model, when a policy names the model.
"""

from dataclasses import dataclass

from django.conf import settings

from ollamaweb.core.names import canonical
from ollamaweb.core.refreshed import RefreshedTable

from .counters import KEY, TEAM, USER, Scope
from .models import LIMIT_FIELDS, QuotaPolicy

DEFAULT = "default"
# A policy's place in the table: (DEFAULT, None, model), (USER, user id, model), (KEY, key id, model)
# or (TEAM, team id, model); model is canonical, or "" for all models.
PolicyKey = tuple[str, int | None, str]


@dataclass(frozen=True, slots=True)
class Payer:
    """Who a request is charged to: its key, the key's owner, and the team (if any)."""

    user_id: int
    key_id: int
    team_id: int | None = None
    team_key: bool = False  # a team's service key: its use is the team's, not its creator's


@dataclass(frozen=True, slots=True)
class ScopeLimits:
    """The limits of one counting scope: a user, a key, a team, or either on one model."""

    scope: Scope
    tokens_per_day: int | None = None
    tokens_per_month: int | None = None
    gpu_seconds_per_day: int | None = None
    gpu_seconds_per_month: int | None = None
    requests_per_minute: int | None = None
    max_concurrent: int | None = None

    @property
    def empty(self) -> bool:
        return all(getattr(self, name) is None for name in LIMIT_FIELDS)


def merged(scope: Scope, *policies: QuotaPolicy | None) -> ScopeLimits:
    """Later policies override earlier ones field by field; unset fields inherit."""
    values = {}
    for policy in policies:
        if policy is not None:
            values.update({name: getattr(policy, name) for name in LIMIT_FIELDS if getattr(policy, name) is not None})
    return ScopeLimits(scope, **values)


def scope_limits(policies: dict, payer: Payer, model: str) -> list[ScopeLimits]:
    """The non-empty scopes for a request, from policies keyed by policy_key()."""
    model = canonical(model) if model else ""
    scopes = []
    for on_model in ("", model) if model else ("",):
        if payer.team_id is not None:
            scopes.append(merged(Scope(TEAM, payer.team_id, on_model), policies.get((TEAM, payer.team_id, on_model))))
        if not payer.team_key:
            user = Scope(USER, payer.user_id, on_model)
            scopes.append(
                merged(user, policies.get((DEFAULT, None, on_model)), policies.get((USER, payer.user_id, on_model)))
            )
        scopes.append(merged(Scope(KEY, payer.key_id, on_model), policies.get((KEY, payer.key_id, on_model))))
    return [scope for scope in scopes if not scope.empty]


def policy_key(policy: QuotaPolicy) -> PolicyKey:
    model = canonical(policy.model) if policy.model else ""
    if policy.api_key_id:
        return (KEY, policy.api_key_id, model)
    if policy.team_id:
        return (TEAM, policy.team_id, model)
    if policy.user_id:
        return (USER, policy.user_id, model)
    return (DEFAULT, None, model)


def policies_by_scope(policies) -> dict[PolicyKey, QuotaPolicy]:
    return {policy_key(p): p for p in policies}


def _policies_from_database() -> dict:
    return policies_by_scope(QuotaPolicy.objects.all())


class PolicyTable:
    """The policies, and the scopes worked out from them per (payer, model) until the next read."""

    MAX_SCOPES = 10_000

    def __init__(self):
        self._table = RefreshedTable(_policies_from_database, lambda: settings.CONFIG_CACHE_TTL, {})
        self._scopes: dict[tuple[Payer, str], tuple[ScopeLimits, ...]] = {}
        self._scopes_of = None  # the policies `_scopes` was worked out from

    async def limits_for(self, payer: Payer, model: str) -> tuple[ScopeLimits, ...]:
        policies = await self._table.get()
        if policies is not self._scopes_of or len(self._scopes) >= self.MAX_SCOPES:
            self._scopes, self._scopes_of = {}, policies
        scopes = self._scopes.get((payer, model))
        if scopes is None:
            scopes = self._scopes[(payer, model)] = tuple(scope_limits(policies, payer, model))
        return scopes

    def invalidate(self):
        self._table.invalidate()


policy_table = PolicyTable()
