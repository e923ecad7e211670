"""The gateway's view of its Ollama backends: configuration, health, load, and routing.

One registry per process. Backends come from Backend rows, or from OLLAMA_HOST (comma-separated)
when there are none. Routing never touches the database: it reads the in-memory state that the
health checker (health.py) and the requests themselves keep up to date.
"""

import asyncio
import logging
import random
import time
from contextvars import ContextVar
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError

from ollamaweb.core.db import run_in_thread
from ollamaweb.core.errors import BackendBusy
from ollamaweb.core.names import canonical
from ollamaweb.core.ollama import OllamaClient
from ollamaweb.core.tasks import spawn
from ollamaweb.core.versions import parse_version, supports

from .config import BackendConfig, serving_backends

FAILURES_BEFORE_DOWN = 3
RELOAD_RETRY_SECONDS = 5.0
logger = logging.getLogger(__name__)
# Where slot() reports how long a request waited for a backend slot (seconds): an observer of the
# request (ollamaweb.metrics.tracing.backend_call) sets a list here; tasks started later inherit it.
slot_waits: ContextVar[list | None] = ContextVar("ollamaweb_slot_waits", default=None)


@dataclass(eq=False)
class BackendState:
    """A configured backend (config.py) and what this process knows of it: health, models, load."""

    config: BackendConfig
    up: bool | None = None  # None until the first health check: assumed usable
    version: tuple[int, ...] | None = None
    version_text: str = ""
    latency_ms: float | None = None
    models: dict[str, dict] = field(default_factory=dict)  # canonical name → /api/tags entry
    loaded: dict[str, dict] = field(default_factory=dict)  # canonical name → /api/ps entry
    checked_at: float | None = None
    last_error: str = ""
    inflight: int = 0
    waiting: int = 0
    choosing: int = 0  # requests routed here that have not reached their slot yet
    failures: int = 0
    _slots: asyncio.Semaphore | None = None

    def __post_init__(self):
        self.client = RoutedClient(self)

    def configure(self, config: BackendConfig):
        old, self.config = self.config, config
        if (config.url, config.headers) != (old.url, old.headers):
            self.client = RoutedClient(self)
        if config.max_concurrent != old.max_concurrent:
            self._slots = None

    name = property(lambda self: self.config.name)
    url = property(lambda self: self.config.url)
    weight = property(lambda self: self.config.weight)
    max_concurrent = property(lambda self: self.config.max_concurrent)
    db_id = property(lambda self: self.config.db_id)

    def has_model(self, model: str) -> bool:
        return canonical(model) in self.models

    def slot(self) -> "Slot":
        """Hold one of the backend's request slots (`async with`); beyond max_concurrent, wait in a bounded queue."""
        return Slot(self)

    async def acquire_slot(self) -> asyncio.Semaphore:
        """Wait for one of max_concurrent slots (a bounded queue): the semaphore to release."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_concurrent)
        slots = self._slots
        if self.waiting >= settings.BACKEND_QUEUE_SIZE:
            raise BackendBusy(
                f"Backend {self.name} is at capacity and its queue is full; try again shortly.", retry_after=2
            )
        self.waiting += 1
        queued = time.perf_counter()
        try:
            await asyncio.wait_for(slots.acquire(), settings.BACKEND_QUEUE_TIMEOUT)
        except TimeoutError:
            raise BackendBusy(f"Backend {self.name} stayed at capacity; try again shortly.", retry_after=5) from None
        finally:
            self.waiting -= 1
            waits = slot_waits.get()
            if waits is not None:
                waits.append(time.perf_counter() - queued)
        return slots

    def succeeded(self):
        self.failures = 0
        if self.up is False:
            self.up = None  # traffic got through: usable again until the next health check says otherwise

    def failed(self):
        self.failures += 1
        if self.failures >= FAILURES_BEFORE_DOWN:
            self.up = False


class Slot:
    """BackendState.slot(): a class, not a generator, since every request enters one. It gives
    back the semaphore it took, even if the backend's limit changed meanwhile."""

    __slots__ = ("_backend", "_taken")

    def __init__(self, backend: BackendState):
        self._backend = backend
        self._taken: asyncio.Semaphore | None = None

    async def __aenter__(self):
        backend = self._backend
        if backend.max_concurrent is not None:
            self._taken = await backend.acquire_slot()
        backend.inflight += 1

    async def __aexit__(self, *exc_info):
        self._backend.inflight -= 1
        if self._taken is not None:
            self._taken.release()


class InSlot:
    """`async with`: a backend slot held around another async context manager (a stream)."""

    __slots__ = ("_slot", "_inner")

    def __init__(self, slot: Slot, inner):
        self._slot, self._inner = slot, inner

    async def __aenter__(self):
        await self._slot.__aenter__()
        try:
            return await self._inner.__aenter__()
        except BaseException:
            await self._slot.__aexit__(None, None, None)
            raise

    async def __aexit__(self, *exc_info):
        try:
            return await self._inner.__aexit__(*exc_info)
        finally:
            await self._slot.__aexit__(*exc_info)


class RoutedClient(OllamaClient):
    """An OllamaClient that counts its calls against the backend's slots and health."""

    def __init__(self, backend: BackendState):
        super().__init__(backend.config.url, backend.config.headers)
        self.backend = backend

    async def request(self, method, path, payload=None):
        async with self.backend.slot():
            return await super().request(method, path, payload)

    async def probe(self, method, path, payload=None):
        """A health check or catalog look-up: not counted against the backend's request slots."""
        return await super().request(method, path, payload)

    def stream(self, path, payload):
        return InSlot(self.backend.slot(), super().stream(path, payload))


class Registry:
    def __init__(self):
        self._states: dict[str, BackendState] = {}
        self._source = None  # what the states were built from: "db", or the OLLAMA_HOST value
        self._wanted = 1  # configuration generations: reload when the loaded one is older
        self._loaded = 0
        self._reloading: asyncio.Lock | None = None
        self._health_task: asyncio.Task | None = None
        self._retry_at = 0.0  # after a failed reload: keep the last configuration until then

    def invalidate(self):
        self._wanted += 1

    @property
    def stale(self) -> bool:
        if self._states and time.monotonic() < self._retry_at:
            return False
        return self._loaded != self._wanted or (self._source not in ("db", settings.OLLAMA_HOST))

    async def backends(self) -> list[BackendState]:
        if self.stale:
            if self._reloading is None:
                self._reloading = asyncio.Lock()
            async with self._reloading:  # one reload at a time; the others wait for its result
                if self.stale:
                    await self._reload_or_keep()
        self._ensure_health_checks()
        return list(self._states.values())

    async def _reload_or_keep(self):
        """Reload; if the database does not answer, keep routing with the last configuration."""
        try:
            await self.reload()
        except DatabaseError as exc:
            if not self._states:
                raise
            self._retry_at = time.monotonic() + RELOAD_RETRY_SECONDS
            logger.warning("could not read the backend configuration (%s); keeping the last one", exc)

    async def reload(self):
        """Read the configuration (config.py decides: enabled Backend rows, else OLLAMA_HOST)."""
        generation = self._wanted
        configs = await run_in_thread(serving_backends)
        states = {}
        for config in configs:
            state = self._states.get(config.name)
            if state is None:
                state = BackendState(config)
            else:
                state.configure(config)
            states[config.name] = state
        self._states, self._source, self._loaded = states, _source_of(configs), generation

    async def candidates(self, model: str, features: frozenset = frozenset()) -> list[BackendState]:
        """Backends to try for `model`, best first.

        Order: supports the request's features, is not known to be down, lists the model, has it
        loaded, then the fewest in-flight requests per unit of weight (random among equals).
        Backends known to be down come last, so a request still has somewhere to go.
        """
        model = canonical(model)

        def rank(state: BackendState):
            return (
                not supports(state.version, features),
                state.up is False,
                bool(state.models) and model not in state.models,
                model not in state.loaded,
                (state.inflight + state.waiting + state.choosing) / state.weight,
                random.random(),
            )

        return sorted(await self.backends(), key=rank)

    def _ensure_health_checks(self):
        if settings.BACKEND_HEALTH_INTERVAL <= 0:
            return
        if (
            self._health_task is None
            or self._health_task.done()
            or self._health_task.get_loop() is not asyncio.get_running_loop()
        ):
            from .health import run_health_checks

            self._health_task = spawn(run_health_checks(self), name="ollamaweb-health")

    async def stop(self):
        if self._health_task is not None:
            self._health_task.cancel()
            await asyncio.gather(self._health_task, return_exceptions=True)
            self._health_task = None

    def state_of(self, name: str) -> BackendState | None:
        return self._states.get(name)

    def apply_health(
        self, state: BackendState, *, up, version_text="", latency_ms=None, models=None, loaded=None, error=""
    ):
        state.up = up
        state.checked_at = time.time()
        state.last_error = error
        if up:
            state.failures = 0
            state.version_text = version_text
            state.version = parse_version(version_text)
            state.latency_ms = latency_ms
            state.models = {
                canonical(m.get("model") or m.get("name")): m for m in models or () if m.get("model") or m.get("name")
            }
            state.loaded = {
                canonical(m.get("model") or m.get("name")): m for m in loaded or () if m.get("model") or m.get("name")
            }


def _source_of(configs) -> str:
    return settings.OLLAMA_HOST if all(config.from_environment for config in configs) else "db"


registry = Registry()
