"""The staff's live request feed: the log writer publishes each written batch to a channel group.

Every gateway process publishes what it writes, so with the Redis channel layer (REDIS_URL set)
a feed shows requests from all processes; with the default in-memory layer, from its own process
only. Publishing never raises and never waits long: the feed is best effort, the log is not.
"""

import asyncio
import logging
import time

from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

FEED_GROUP = "ollamaweb.requests"
PUBLISH_TIMEOUT = 1.0
_last_warning = 0.0


def feed_row(record) -> dict:
    """What a feed shows of one request (a UsageRecord or a RequestLog row): no secrets, no bodies."""
    created = record.created_at
    return {
        "created_at": created.isoformat(),
        "user_id": record.user_id,
        "key_id": getattr(record, "key_id", None) or getattr(record, "api_key_id", None),
        "key_prefix": record.key_prefix,
        "endpoint": record.endpoint,
        "model": record.requested_model,
        "resolved_model": record.resolved_model,
        "backend": getattr(record, "backend", "") or "",
        "status": record.status,
        "stream": record.stream,
        "prompt_tokens": record.prompt_tokens,
        "completion_tokens": record.completion_tokens,
        "latency_ms": round(record.latency_ms or 0, 1),
        "ttft_ms": round(record.ttft_ms, 1) if record.ttft_ms is not None else None,
        "error": (record.error or "")[:300],
    }


async def publish_requests(records) -> None:
    """Send a written batch to the feed group; logs (at most once a minute) instead of raising."""
    global _last_warning
    if not records:
        return
    try:
        layer = get_channel_layer()
        if layer is None:
            return
        rows = [feed_row(record) for record in records]
        await asyncio.wait_for(layer.group_send(FEED_GROUP, {"type": "feed.requests", "rows": rows}), PUBLISH_TIMEOUT)
    except Exception as exc:
        if time.monotonic() - _last_warning > 60:
            _last_warning = time.monotonic()
            logger.warning("could not publish %d requests to the live feed: %r", len(records), exc)
