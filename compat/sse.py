"""Server-sent events as OpenAI streams them: `data: {json}\\n\\n`, closed by `data: [DONE]`."""

import orjson
from django.http import StreamingHttpResponse

DONE = b"data: [DONE]\n\n"


def event(payload: dict) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def sse_response(events) -> StreamingHttpResponse:
    response = StreamingHttpResponse(events, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
