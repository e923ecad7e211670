"""Which limits apply to a request: the policy table, cached per process, merged per scope."""

import time
from dataclasses import dataclass

from django.conf import settings

from ollamaweb.core.db import run_in_thread

from .models import LIMIT_FIELDS, QuotaPolicy


@dataclass(frozen=True, slots=True)
class ScopeLimits:
    """The limits of one counting scope: `u5` (a user), `k7` (a key), `u5:m:llama3:latest` (a user on a model)."""

    scope: str
    tokens_per_day: int | None = None
    tokens_per_month: int | None = None
    requests_per_minute: int | None = None
    max_concurrent: int | None = None

    @property
    def empty(self) -> bool:
        return all(getattr(self, name) is None for name in LIMIT_FIELDS)


def merged(scope: str, *policies: QuotaPolicy | None) -> ScopeLimits:
    """Later policies override earlier ones field by field; unset fields inherit."""
    values = {}
    for policy in policies:
        if policy is not None:
            values.update({name: getattr(policy, name) for name in LIMIT_FIELDS if getattr(policy, name) is not None})
    return ScopeLimits(scope, **values)


def scope_limits(policies: dict, user_id: int, key_id: int, model: str) -> list[ScopeLimits]:
    """The non-empty scopes for a request, from policies keyed by (user_id, key_id, model)."""
    scopes = [
        merged(f"u{user_id}", policies.get((None, None, "")), policies.get((user_id, None, ""))),
        merged(f"k{key_id}", policies.get((None, key_id, ""))),
    ]
    if model:
        scopes += [
            merged(f"u{user_id}:m:{model}", policies.get((None, None, model)), policies.get((user_id, None, model))),
            merged(f"k{key_id}:m:{model}", policies.get((None, key_id, model))),
        ]
    return [scope for scope in scopes if not scope.empty]


def _policies_from_database() -> dict:
    return {(p.user_id, p.api_key_id, p.model): p for p in QuotaPolicy.objects.all()}


class PolicyTable:
    def __init__(self):
        self._policies: dict = {}
        self._fresh_until = 0.0

    async def limits_for(self, user_id: int, key_id: int, model: str) -> list[ScopeLimits]:
        if time.monotonic() >= self._fresh_until:
            self._policies = await run_in_thread(_policies_from_database)
            self._fresh_until = time.monotonic() + settings.API_KEY_CACHE_TTL
        return scope_limits(self._policies, user_id, key_id, model)

    def invalidate(self):
        self._fresh_until = 0.0


policy_table = PolicyTable()
