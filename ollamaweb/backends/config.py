"""Which Ollama servers the gateway uses, decided in one place.

A backend is a `Backend` row; when no row is enabled, the OLLAMA_HOST URLs (comma-separated) are
the backends, named `host:port`. Routing (registry.py), health checks, model management
(operations.py, pulls.py), the admin and the commands all read this module.
"""

import asyncio
from dataclasses import dataclass, field

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings

from ollamaweb.core.errors import GatewayError
from ollamaweb.core.ollama import OllamaClient, parse_ollama_host

from .models import Backend

LIVE_LOOKUP_TIMEOUT = 3.0


@dataclass(frozen=True)
class BackendConfig:
    name: str
    url: str  # a base URL as the client wants it (parse_ollama_host applied)
    weight: int = 1
    max_concurrent: int | None = None
    headers: dict = field(default_factory=dict, hash=False, compare=False)
    db_id: int | None = None  # the Backend row, or None for an OLLAMA_HOST backend
    enabled: bool = True

    def client(self) -> OllamaClient:
        """A plain client (not counted against routing slots): for management and look-ups."""
        return OllamaClient(self.url, self.headers)

    @property
    def from_environment(self) -> bool:
        return self.db_id is None


def config_of(row: Backend) -> BackendConfig:
    return BackendConfig(
        name=row.name,
        url=parse_ollama_host(row.url)[0],
        weight=max(1, row.weight),
        max_concurrent=row.max_concurrent,
        headers=dict(row.headers or {}),
        db_id=row.pk,
        enabled=row.enabled,
    )


def environment_backends() -> list[BackendConfig]:
    """The OLLAMA_HOST backends, named host:port."""
    return [BackendConfig(name=url.split("://", 1)[1], url=url) for url in parse_ollama_host(settings.OLLAMA_HOST)]


def configured_backends() -> list[BackendConfig]:
    """Every Backend row (disabled ones too, marked `enabled=False`), with the OLLAMA_HOST backends
    first when no row is enabled: exactly what the registry routes to, plus the disabled rows."""
    backends = [config_of(row) for row in Backend.objects.all()]
    if not any(backend.enabled for backend in backends):
        backends = environment_backends() + backends
    return backends


def serving_backends() -> list[BackendConfig]:
    """The backends requests are routed to."""
    return [backend for backend in configured_backends() if backend.enabled]


async def aconfigured_backends() -> list[BackendConfig]:
    return await sync_to_async(configured_backends)()


def known_models() -> list[str] | None:
    """The models the serving backends have: asked live (a few seconds at most), falling back to
    the last health check's record; None when nothing could be learnt (not checked then)."""
    backends = serving_backends()
    names = set()
    for row in Backend.objects.filter(enabled=True):
        names.update(entry.get("model") or entry.get("name") or "" for entry in row.present_models or ())
    try:
        names.update(async_to_sync(_live_models)(backends))
    except Exception:  # a look-up that fails leaves what the health checks recorded
        pass
    names.discard("")
    return sorted(names) if names else None


async def _live_models(backends: list[BackendConfig]) -> set[str]:
    async def tags(backend):
        try:
            answer = await asyncio.wait_for(backend.client().request("GET", "/api/tags"), LIVE_LOOKUP_TIMEOUT)
        except (GatewayError, TimeoutError, OSError):
            return []
        return [entry.get("model") or entry.get("name") or "" for entry in answer.get("models") or ()]

    return {name for listing in await asyncio.gather(*(tags(b) for b in backends)) for name in listing}
