"""Alias resolution with a short-lived per-process copy of the alias table (it is small)."""

import time
from dataclasses import dataclass

from django.conf import settings

from ollamaweb.core.db import run_in_thread

from .models import ModelAlias


@dataclass(frozen=True, slots=True)
class Alias:
    name: str
    target: str
    created: int


def _aliases_from_database() -> dict[str, Alias]:
    return {row.name: Alias(row.name, row.target, int(row.updated_at.timestamp())) for row in ModelAlias.objects.all()}


class AliasTable:
    def __init__(self):
        self._aliases: dict[str, Alias] = {}
        self._fresh_until = 0.0

    async def all(self) -> dict[str, Alias]:
        if time.monotonic() >= self._fresh_until:
            self._aliases = await run_in_thread(_aliases_from_database)
            self._fresh_until = time.monotonic() + settings.CONFIG_CACHE_TTL
        return self._aliases

    async def resolve(self, name: str) -> str:
        """The backend model for a requested name (the name itself when it is no alias)."""
        aliases = await self.all()
        alias = aliases.get(name) or aliases.get(name.removesuffix(":latest"))
        return alias.target if alias else name

    def invalidate(self):
        self._fresh_until = 0.0


alias_table = AliasTable()
