"""The model catalog shown in the portal: each backend's /api/tags and /api/show, cached briefly.

The backends are the ones the gateway routes to (Backend rows, or OLLAMA_HOST when there are
none: ollamaweb.backends.operations), asked with plain ollamaweb.core.ollama clients (a catalog look-up
takes none of a backend's request slots). A listing is cached for CATALOG_TTL seconds (a failure
for FAILURE_TTL), so pages stay fast and a down backend is not asked on every page view.
"""

import asyncio
import time
from dataclasses import dataclass, field

from django.core.cache import cache

from ollamaweb.backends.config import aconfigured_backends
from ollamaweb.backends.operations import error_text
from ollamaweb.core.errors import GatewayError
from ollamaweb.core.names import canonical

CACHE_KEY = "ollamaweb:portal:catalog:v1"
CATALOG_TTL = 30
FAILURE_TTL = 5
FETCH_TIMEOUT = 8.0
SHOW_CONCURRENCY = 8

# Ollama capability → what the portal calls it.
CAPABILITY_LABELS = {
    "completion": "chat",
    "tools": "tools",
    "vision": "vision",
    "embedding": "embeddings",
    "thinking": "thinking",
    "insert": "fill-in-middle",
}


@dataclass
class ModelInfo:
    name: str
    backends: list[str]  # names of the backends that have it
    family: str = ""
    parameter_size: str = ""
    quantization: str = ""
    size: int = 0
    context_length: int | None = None
    capabilities: list[str] = field(default_factory=list)  # Ollama's names
    modified_at: str = ""

    @property
    def capability_labels(self) -> list[str]:
        return [CAPABILITY_LABELS.get(c, c) for c in self.capabilities]

    @property
    def can_chat(self) -> bool:
        # Old Ollama versions report no capabilities: assume chat unless it is an embedding model.
        return "completion" in self.capabilities or not self.capabilities


@dataclass
class Catalog:
    models: list[ModelInfo]
    error: str = ""  # set when no backend could be asked
    fetched_at: float = 0.0
    unreachable: list[tuple[str, str]] = field(default_factory=list)  # (backend, message) that failed

    def find(self, name: str) -> ModelInfo | None:
        wanted = canonical(name)
        return next((m for m in self.models if canonical(m.name) == wanted), None)


def _model_from(listing: dict, shown: dict | None, backends: list[str]) -> ModelInfo:
    details = {**(listing.get("details") or {}), **((shown or {}).get("details") or {})}
    info = (shown or {}).get("model_info") or {}
    arch = info.get("general.architecture") or details.get("family") or ""
    context = info.get(f"{arch}.context_length")
    capabilities = (shown or {}).get("capabilities") or listing.get("capabilities") or []
    return ModelInfo(
        name=listing.get("model") or listing.get("name") or "",
        backends=backends,
        family=details.get("family") or arch,
        parameter_size=details.get("parameter_size") or "",
        quantization=details.get("quantization_level") or "",
        size=int(listing.get("size") or 0),
        context_length=int(context) if isinstance(context, int | float) else None,
        capabilities=[str(c) for c in capabilities],
        modified_at=listing.get("modified_at") or "",
    )


async def _fetch() -> Catalog:
    targets = [target for target in await aconfigured_backends() if target.enabled]
    answers = await asyncio.gather(
        *(target.client().request("GET", "/api/tags") for target in targets), return_exceptions=True
    )
    unreachable = []
    found: dict[str, tuple[dict, list]] = {}  # canonical name → (first listing, [targets that have it])
    for target, answer in zip(targets, answers):
        if isinstance(answer, BaseException):
            if not isinstance(answer, GatewayError | OSError | TimeoutError):
                raise answer
            unreachable.append((target.name, error_text(answer)))
            continue
        for listing in answer.get("models") or ():
            name = listing.get("model") or listing.get("name")
            if name:
                found.setdefault(canonical(name), (listing, []))[1].append(target)
    if targets and len(unreachable) == len(targets):
        return Catalog([], error=unreachable[0][1], fetched_at=time.time(), unreachable=unreachable)
    if not targets:
        return Catalog([], error="No backend is configured.", fetched_at=time.time())
    semaphore = asyncio.Semaphore(SHOW_CONCURRENCY)

    async def show(listing, holders):
        name = listing.get("model") or listing.get("name")
        async with semaphore:
            try:
                return await holders[0].client().request("POST", "/api/show", {"model": name})
            except GatewayError:
                return None

    entries = list(found.values())
    shown = await asyncio.gather(*(show(listing, holders) for listing, holders in entries))
    models = [
        _model_from(listing, details, [t.name for t in holders]) for (listing, holders), details in zip(entries, shown)
    ]
    return Catalog(sorted(models, key=lambda m: m.name), fetched_at=time.time(), unreachable=unreachable)


async def get_catalog(refresh: bool = False) -> Catalog:
    """The cached catalog, fetched when stale; on failure, a Catalog with `error` set."""
    if not refresh:
        cached = await cache.aget(CACHE_KEY)
        if cached is not None:
            return cached
    try:
        catalog = await asyncio.wait_for(_fetch(), FETCH_TIMEOUT)
    except GatewayError as exc:
        catalog = Catalog([], error=exc.message, fetched_at=time.time())
    except TimeoutError:
        catalog = Catalog([], error="The model backend did not answer in time.", fetched_at=time.time())
    await cache.aset(CACHE_KEY, catalog, FAILURE_TTL if catalog.error else CATALOG_TTL)
    return catalog


def cached_catalog() -> Catalog | None:
    """The catalog if it is cached, without asking the backend (for pages that only suggest names)."""
    return cache.get(CACHE_KEY)
