"""Alias resolution with a short-lived per-process copy of the alias table (it is small).

A name without an alias resolves to itself, except `claude-*` names when staff set a default
target for them (CatalogSettings.claude_default_target): Claude Code asks for Claude models.
"""

from dataclasses import dataclass

from django.conf import settings

from ollamaweb.core.refreshed import RefreshedTable

from .models import CatalogSettings, ModelAlias

CLAUDE_PREFIX = "claude-"


@dataclass(frozen=True, slots=True)
class Alias:
    name: str
    target: str
    created: int


def _aliases_from_database() -> tuple[dict[str, Alias], str]:
    aliases = {
        row.name: Alias(row.name, row.target, int(row.updated_at.timestamp())) for row in ModelAlias.objects.all()
    }
    return aliases, CatalogSettings.current().claude_default_target


class AliasTable:
    def __init__(self):
        self._claude_default = ""
        self._table = RefreshedTable(_aliases_from_database, lambda: settings.CONFIG_CACHE_TTL, ({}, ""))

    async def all(self) -> dict[str, Alias]:
        aliases, self._claude_default = await self._table.get()
        return aliases

    async def resolve(self, name: str) -> str:
        """The backend model for a requested name (the name itself when it is no alias)."""
        aliases = await self.all()
        alias = aliases.get(name) or aliases.get(name.removesuffix(":latest"))
        if alias:
            return alias.target
        if self._claude_default and name.lower().startswith(CLAUDE_PREFIX):
            return self._claude_default
        return name

    def invalidate(self):
        self._table.invalidate()


alias_table = AliasTable()
