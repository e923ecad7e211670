"""Writes to the catalog (aliases and catalog settings)."""

from .models import CatalogSettings


def set_claude_default_target(target: str) -> CatalogSettings:
    """Serve unknown claude-* model names with `target` ("" turns the fallback off)."""
    target = target.strip()
    settings, _ = CatalogSettings.objects.update_or_create(pk=1, defaults={"claude_default_target": target})
    return settings
