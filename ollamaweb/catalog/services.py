"""Every write to model aliases and catalog settings goes through here: validated, forgotten by
every process's cache, and audited (`actor`, `request`, `via` go to ollamaweb.audit.services.record)."""

from django.core.exceptions import ValidationError
from django.db import transaction

from ollamaweb.audit.services import delete_audited, record, save_audited
from ollamaweb.core.names import canonical

from .aliases import alias_table
from .models import CatalogSettings, ModelAlias

_model_sources = []


def register_model_source(source):
    """`source()` returns the model names the backends have, or None when it cannot tell.

    The backends app registers its look-up here, so aliases are checked against real models
    without this app depending on the backends app (which writes aliases from its copy page).
    """
    _model_sources.append(source)
    return source


def known_models() -> list[str] | None:
    names, known = set(), False
    for source in _model_sources:
        found = source()
        if found is not None:
            names.update(found)
            known = True
    return sorted(names) if known else None


def _forget_aliases():
    alias_table.invalidate()
    transaction.on_commit(alias_table.invalidate)


def check_alias(name: str, target: str, known_models=None, allow_pending: bool = False, instance=None):
    """Raise ValidationError, in words, if `name → target` would not resolve to a real model.

    `known_models` are the models the backends have (None: unknown, not checked). A target no
    backend has is refused unless `allow_pending` (e.g. a model about to be pulled).
    """
    name, target = name.strip(), target.strip()
    if not name or not target:
        raise ValidationError("An alias needs a name and a target model.")
    if canonical(name) == canonical(target):
        raise ValidationError("An alias cannot point at itself.")
    others = ModelAlias.objects.exclude(pk=instance.pk) if instance is not None and instance.pk else ModelAlias.objects
    by_name = {canonical(alias.name): alias for alias in others.all()}
    if canonical(target) in by_name:
        chained = by_name[canonical(target)]
        raise ValidationError(
            f"{target} is an alias itself (→ {chained.target}): point {name} at {chained.target} instead."
        )
    pointing_here = [alias.name for alias in by_name.values() if canonical(alias.target) == canonical(name)]
    if pointing_here:
        raise ValidationError(
            f"The alias {', '.join(sorted(pointing_here))} points at {name}: an alias cannot be the target of another."
        )
    if known_models is not None and not allow_pending:
        if canonical(target) not in {canonical(model) for model in known_models}:
            raise ValidationError(
                f"No backend has a model named {target}. Pull it first, or save the alias as pending."
            )


AUDITED_FIELDS = ("name", "target", "description")


def set_alias(
    name: str,
    target: str,
    description: str = "",
    *,
    known_models=None,
    allow_pending=False,
    actor=None,
    request=None,
    via="",
) -> ModelAlias:
    """Create or change the alias `name` (validated by check_alias); returns it."""
    name, target = name.strip(), target.strip()
    existing = ModelAlias.objects.filter(name=name).first()
    check_alias(name, target, known_models, allow_pending, instance=existing)
    alias = existing or ModelAlias(name=name)
    alias.target, alias.description = target, description or alias.description
    return save_alias(alias, actor=actor, request=request, via=via)


def save_alias(alias: ModelAlias, *, actor=None, request=None, via="") -> ModelAlias:
    """Save an alias edited in a form that already ran check_alias."""
    save_audited(alias, "alias", fields=AUDITED_FIELDS, actor=actor, request=request, via=via)
    _forget_aliases()
    return alias


def delete_aliases(aliases, *, actor=None, request=None, via="") -> int:
    aliases = list(aliases)
    count = delete_audited(actor, "alias.delete", aliases, fields=AUDITED_FIELDS, request=request, via=via)
    _forget_aliases()
    return count


def check_claude_default_target(target: str, known_models=None, allow_pending: bool = False):
    """Raise ValidationError, in words, if `target` cannot serve claude-* names ("" turns them off)."""
    target = target.strip()
    if not target:
        return
    if target.lower().startswith("claude-"):
        raise ValidationError("The default for claude-* names must be a backend model, not another claude-* name.")
    alias = next((a for a in ModelAlias.objects.all() if canonical(a.name) == canonical(target)), None)
    if alias is not None:
        raise ValidationError(f"{target} is an alias (→ {alias.target}): use {alias.target} instead.")
    if known_models is not None and not allow_pending:
        if canonical(target) not in {canonical(model) for model in known_models}:
            raise ValidationError(
                f"No backend has a model named {target}. Pull it first, or save the default as pending."
            )


def set_claude_default_target(
    target: str, *, known_models=None, allow_pending=False, actor=None, request=None, via=""
) -> CatalogSettings:
    """Serve claude-* names that have no alias of their own with `target` ("" turns that off)."""
    target = target.strip()
    check_claude_default_target(target, known_models, allow_pending)
    old = CatalogSettings.objects.filter(pk=1).first()
    before = {"claude_default_target": old.claude_default_target} if old else None
    settings, _ = CatalogSettings.objects.update_or_create(pk=1, defaults={"claude_default_target": target})
    _forget_aliases()
    after = {"claude_default_target": target}
    if before != after:
        record(actor, "alias.claude_default", settings, before=before, after=after, request=request, via=via)
    return settings
