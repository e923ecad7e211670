"""Alias resolution with a short-lived per-process copy of the alias table (it is small)."""

from dataclasses import dataclass

from django.conf import settings

from ollamaweb.core.refreshed import RefreshedTable

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
        self._table = RefreshedTable(_aliases_from_database, lambda: settings.CONFIG_CACHE_TTL, {})

    async def all(self) -> dict[str, Alias]:
        return await self._table.get()

    async def resolve(self, name: str) -> str:
        """The backend model for a requested name (the name itself when it is no alias)."""
        aliases = await self.all()
        alias = aliases.get(name) or aliases.get(name.removesuffix(":latest"))
        return alias.target if alias else name

    def invalidate(self):
        self._table.invalidate()


alias_table = AliasTable()
