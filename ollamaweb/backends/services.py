"""Every write to the backend configuration goes through here; this process reloads it at once,
the others at their next health-check round (OLLAMAWEB_HEALTH_INTERVAL). Each change is audited
(`actor`, `request`, `via` go to ollamaweb.audit.services.record; header values never do)."""

from django.db import transaction

from ollamaweb.audit.services import delete_audited, save_audited

from .models import Backend
from .registry import registry


def _reload():
    registry.invalidate()
    transaction.on_commit(registry.invalidate)


# What people configure (the health fields are the health checkers'); header values are scrubbed.
AUDITED_FIELDS = ("name", "url", "enabled", "weight", "max_concurrent", "headers")


def save_backend(backend: Backend, *, actor=None, request=None, via="") -> Backend:
    """Save a new or changed Backend (validated by its form or command)."""
    save_audited(backend, "backend", fields=AUDITED_FIELDS, actor=actor, request=request, via=via)
    _reload()
    return backend


def set_backend(
    name: str,
    url: str,
    *,
    weight=None,
    max_concurrent=None,
    headers=None,
    enabled=True,
    actor=None,
    request=None,
    via="",
) -> Backend:
    """Add the backend `name` or change it; `headers` are merged into the existing ones."""
    backend = Backend.objects.filter(name=name).first() or Backend(name=name)
    created = backend.pk is None
    backend.url = url
    if weight is not None or created:
        backend.weight = weight or 1
    if max_concurrent is not None:
        backend.max_concurrent = max_concurrent or None
    if headers:
        backend.headers = {**(backend.headers or {}), **headers}
    backend.enabled = enabled
    return save_backend(backend, actor=actor, request=request, via=via)


def remove_backends(backends, *, actor=None, request=None, via="") -> int:
    backends = list(backends)
    count = delete_audited(actor, "backend.delete", backends, fields=AUDITED_FIELDS, request=request, via=via)
    _reload()
    return count
