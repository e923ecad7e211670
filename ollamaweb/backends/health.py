"""The health checker: one task per gateway process polls every backend.

Each round reads the configuration again (so Backend edits made elsewhere arrive), asks every
backend for /api/version, /api/tags and /api/ps, updates the in-memory state that routing uses,
and records what it saw on the Backend rows (with a BackendEvent when a backend goes up or down).
"""

import asyncio
import logging
import time

from django.conf import settings
from django.utils import timezone

from ollamaweb.core.db import run_in_thread
from ollamaweb.core.errors import GatewayError

from .models import Backend, BackendEvent

logger = logging.getLogger(__name__)


async def run_health_checks(registry):
    while True:
        try:
            registry.invalidate()
            await check_all(registry)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("health check round failed")
        await asyncio.sleep(settings.BACKEND_HEALTH_INTERVAL)


async def check_all(registry):
    states = await registry.backends()
    await asyncio.gather(*(check(registry, state) for state in states))
    await run_in_thread(record, [state for state in states if state.db_id is not None])


async def check(registry, state):
    was_up = state.up
    started = time.perf_counter()
    try:
        version, tags, ps = await asyncio.wait_for(
            asyncio.gather(
                state.client.probe("GET", "/api/version"),
                state.client.probe("GET", "/api/tags"),
                state.client.probe("GET", "/api/ps"),
            ),
            timeout=settings.BACKEND_HEALTH_TIMEOUT,
        )
    except (GatewayError, TimeoutError) as exc:
        message = exc.message if isinstance(exc, GatewayError) else "health check timed out"
        registry.apply_health(state, up=False, error=message)
    else:
        latency = (time.perf_counter() - started) * 1000
        registry.apply_health(
            state,
            up=True,
            version_text=version.get("version", ""),
            latency_ms=latency,
            models=tags.get("models") or [],
            loaded=ps.get("models") or [],
        )
    if was_up is not None and was_up != state.up:
        logger.warning(
            "backend %s is %s%s",
            state.name,
            "up" if state.up else "down",
            f": {state.last_error}" if state.last_error else "",
        )
    return was_up != state.up


def record(states):
    """Write the latest health of configured backends to the database, with an event per up/down change.

    The change is detected by a conditional update, so with several gateway processes checking,
    only one of them records it.
    """
    now = timezone.now()
    for state in states:
        rows = Backend.objects.filter(pk=state.db_id)
        if rows.filter(is_up__isnull=False).exclude(is_up=state.up).update(is_up=state.up):
            BackendEvent.objects.create(backend_id=state.db_id, up=bool(state.up), message=state.last_error)
        rows.update(
            is_up=state.up,
            version=state.version_text,
            latency_ms=state.latency_ms,
            present_models=list(state.models.values()),
            loaded_models=list(state.loaded.values()),
            checked_at=now,
            last_error=state.last_error,
        )
