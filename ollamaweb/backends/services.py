"""Every write to the backend configuration goes through here; this process reloads it at once,
the others at their next health-check round (OLLAMAWEB_HEALTH_INTERVAL)."""

from django.db import transaction

from .models import Backend
from .registry import registry


def _reload():
    registry.invalidate()
    transaction.on_commit(registry.invalidate)


def save_backend(backend: Backend) -> Backend:
    """Save a new or changed Backend (validated by its form or command)."""
    backend.save()
    _reload()
    return backend


def set_backend(name: str, url: str, *, weight=None, max_concurrent=None, headers=None, enabled=True) -> Backend:
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
    return save_backend(backend)


def remove_backends(backends) -> int:
    count = Backend.objects.filter(pk__in=[backend.pk for backend in backends]).delete()[0]
    _reload()
    return count
