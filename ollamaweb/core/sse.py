"""Streaming responses: server-sent events and NDJSON, with the headers proxies need to pass them on."""

import orjson
from django.http import StreamingHttpResponse

SSE = "text/event-stream"
NDJSON = "application/x-ndjson"


def event(payload, name: str | None = None) -> bytes:
    """One server-sent event: `data: {json}` (with `event: name` first when named)."""
    data = b"data: " + orjson.dumps(payload) + b"\n\n"
    return b"event: " + name.encode() + b"\n" + data if name else data


def streaming_response(chunks, media_type: str = SSE) -> StreamingHttpResponse:
    response = StreamingHttpResponse(chunks, content_type=media_type)
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx would buffer the stream otherwise
    return response
