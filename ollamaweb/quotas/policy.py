"""Which limits apply to a request: the policy table, cached per process, merged per scope."""

from dataclasses import dataclass

from django.conf import settings

from ollamaweb.core.names import canonical
from ollamaweb.core.refreshed import RefreshedTable

from .counters import KEY, USER, Scope
from .models import LIMIT_FIELDS, QuotaPolicy


@dataclass(frozen=True, slots=True)
class ScopeLimits:
    """The limits of one counting scope: a user, a key, or either on one model."""

    scope: Scope
    tokens_per_day: int | None = None
    tokens_per_month: int | None = None
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


def scope_limits(policies: dict, user_id: int, key_id: int, model: str) -> list[ScopeLimits]:
    """The non-empty scopes for a request, from policies keyed by (user_id, key_id, canonical model)."""
    model = canonical(model) if model else ""
    scopes = [
        merged(Scope(USER, user_id), policies.get((None, None, "")), policies.get((user_id, None, ""))),
        merged(Scope(KEY, key_id), policies.get((None, key_id, ""))),
    ]
    if model:
        scopes += [
            merged(
                Scope(USER, user_id, model), policies.get((None, None, model)), policies.get((user_id, None, model))
            ),
            merged(Scope(KEY, key_id, model), policies.get((None, key_id, model))),
        ]
    return [scope for scope in scopes if not scope.empty]


def _policies_from_database() -> dict:
    return policies_by_scope(QuotaPolicy.objects.all())


def policies_by_scope(policies) -> dict:
    """Policies keyed by (user_id, key_id, canonical model or "")."""
    return {(p.user_id, p.api_key_id, canonical(p.model) if p.model else ""): p for p in policies}


class PolicyTable:
    def __init__(self):
        self._table = RefreshedTable(_policies_from_database, lambda: settings.CONFIG_CACHE_TTL, {})

    async def limits_for(self, user_id: int, key_id: int, model: str) -> list[ScopeLimits]:
        return scope_limits(await self._table.get(), user_id, key_id, model)

    def invalidate(self):
        self._table.invalidate()


policy_table = PolicyTable()
