"""Writes to the catalog: model aliases."""

from .models import ModelAlias


def set_alias(name: str, target: str) -> tuple[ModelAlias, bool]:
    """Point the alias `name` at `target` (creating it); (alias, created)."""
    if name == target:
        raise ValueError("An alias cannot point at itself.")
    return ModelAlias.objects.update_or_create(name=name, defaults={"target": target})


def delete_alias(name: str) -> bool:
    """Delete the alias `name` (or `name` without `:latest`); whether there was one."""
    deleted, _ = ModelAlias.objects.filter(name__in={name, name.removesuffix(":latest")}).delete()
    return bool(deleted)
