"""Writing audit rows: `record()` is the only way in (see models.AuditEvent).

    from ollamaweb.audit import services as audit
    audit.record(request.user, "key.revoke", key, before=audit.snapshot(key), after=..., request=request)

Before/after are JSON snapshots, scrubbed of secrets (scrub.py) whatever the caller passes. Call it
inside the transaction that makes the change, so the change and its row exist together or not at all.
"""

import json

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from .models import AuditEvent
from .scrub import scrub

SYSTEM = "system"
ACTOR_NAMES = {"command": "command line", "sso": "single sign-on", "system": SYSTEM}


def _json(value):
    """A JSON-safe copy (datetimes, decimals, UUIDs as strings), scrubbed of secrets."""
    if value is None:
        return None
    return scrub(json.loads(json.dumps(value, cls=DjangoJSONEncoder, default=str)))


def snapshot(instance: models.Model | None, fields=None, exclude=()) -> dict | None:
    """The concrete field values of a model instance (foreign keys as ids), for before/after."""
    if instance is None:
        return None
    data = {}
    for field in instance._meta.concrete_fields:
        if (fields is not None and field.name not in fields) or field.name in exclude:
            continue
        value = field.value_from_object(instance)
        data[field.name] = value
    return _json(data)


def client_ip(request) -> str | None:
    if request is None:
        return None
    if getattr(settings, "AUDIT_TRUST_FORWARDED_FOR", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded.strip():
            return forwarded.split(",")[0].strip() or None
    return request.META.get("REMOTE_ADDR") or None


def _source(request, via):
    if via:
        return via
    if request is None:
        return AuditEvent.Source.COMMAND
    return AuditEvent.Source.ADMIN if request.path.startswith("/admin/") else AuditEvent.Source.PORTAL


def _target(target) -> tuple[str, str, str]:
    if target is None:
        return "", "", ""
    if isinstance(target, models.Model):
        meta = target._meta
        return f"{meta.app_label}.{meta.model_name}", str(target.pk or ""), str(target)[:300]
    if isinstance(target, tuple):
        kind, ident, text = (*target, "", "")[:3]
        return str(kind), str(ident), str(text)[:300]
    return "", "", str(target)[:300]


def record(actor, action: str, target=None, before=None, after=None, request=None, *, via: str = "") -> AuditEvent:
    """Write one audit row.

    actor: a user (or None for the command line and the system; a string names a non-user actor);
    target: a model instance, a (type, id, text) tuple, a string, or None;
    before/after: dicts (use snapshot()); secrets are scrubbed;
    request: the HttpRequest, for the client's IP address and user agent;
    via: "portal", "admin", "command", "sso" or "system" (guessed from the request when empty).
    """
    user = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    if user is not None:
        name = user.get_username()
    elif isinstance(actor, str):
        name = actor
    else:
        name = "" if request is not None else ACTOR_NAMES.get(via or "command", SYSTEM)
    target_type, target_id, target_repr = _target(target)
    user_agent = request.META.get("HTTP_USER_AGENT", "")[:300] if request is not None else ""
    return AuditEvent.objects.create(
        actor=user,
        actor_name=name[:150],
        action=action,
        target_type=target_type,
        target_id=target_id,
        target_repr=scrub(target_repr),
        source=_source(request, via),
        ip=client_ip(request),
        user_agent=user_agent,
        before=_json(before),
        after=_json(after),
    )


def save_audited(instance: models.Model, kind: str, *, actor=None, request=None, via="", **snapshot_options) -> None:
    """Save `instance`; when what `snapshot_options` (fields, exclude) select of it changed, audit
    `<kind>.create` or `<kind>.update` with the values before and after."""
    old = type(instance)._default_manager.filter(pk=instance.pk).first() if instance.pk else None
    before = snapshot(old, **snapshot_options)
    instance.save()
    after = snapshot(instance, **snapshot_options)
    if before != after:
        action = f"{kind}.create" if before is None else f"{kind}.update"
        record(actor, action, instance, before=before, after=after, request=request, via=via)


def delete_audited(actor, action: str, instances, *, request=None, via="", **snapshot_options) -> int:
    """Delete `instances` (a list of one model's rows), auditing `action` for each with what `snapshot_options`
    (fields, exclude) select of it before; how many rows of theirs were deleted."""
    for instance in instances:
        record(actor, action, instance, before=snapshot(instance, **snapshot_options), request=request, via=via)
    if not instances:
        return 0
    model = type(instances[0])
    deleted = model._default_manager.filter(pk__in=[instance.pk for instance in instances]).delete()[1]
    return deleted.get(model._meta.label, 0)


async def arecord(*args, **kwargs) -> AuditEvent:
    """record() from async code (the admin's model-management pages)."""
    from asgiref.sync import sync_to_async

    return await sync_to_async(record)(*args, **kwargs)
