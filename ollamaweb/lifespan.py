"""ASGI lifespan for ollamaweb: neither Django's ASGIHandler nor Channels' router implements it.

Startup loads the backends and starts their health checks (the log writer and the HTTP pool
start on first use, so servers without lifespan support, like daphne, still work); shutdown
writes pending request logs, stops the health checks and closes the Ollama connection pool.
"""

import logging

from django.conf import settings

from ollamaweb.backends.registry import registry
from ollamaweb.core.ollama import close_http_client
from ollamaweb.metrics.alerts import alert_runner
from ollamaweb.usage.writer import log_writer

logger = logging.getLogger(__name__)


class LifespanApp:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "lifespan":
            return await self.app(scope, receive, send)
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await registry.backends()
                except Exception as exc:  # e.g. the database is not up yet: retried on first request
                    logger.warning("backends not loaded at startup (%s); will retry on first request", exc)
                alert_runner.ensure_running()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    written, spilled = await log_writer.stop()
                    if spilled:
                        logger.warning(
                            "shutdown: wrote %d request-log records, spilled %d to %s (the database did not answer)",
                            written,
                            spilled,
                            settings.LOG_SPOOL_DIR,
                        )
                    else:
                        logger.info("shutdown: wrote %d pending request-log records", written)
                    await alert_runner.stop()
                    await registry.stop()
                    await close_http_client()
                except Exception as exc:
                    logger.exception("shutdown failed")
                    await send({"type": "lifespan.shutdown.failed", "message": str(exc)})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                return
