"""Relaying native NDJSON streams to the client through a protocol's stream translator.

The first bytes are produced before the response is returned, so a failure before any output
(unknown model, backend down or busy) still gets its proper HTTP status and may fail over. After
that, a failure ends the stream with the protocol's in-stream error (never a silent truncation).
"""

import asyncio
import logging
from contextlib import aclosing

from ollamaweb.core.errors import BackendError, GatewayError, ServerError
from ollamaweb.core.native import has_output, usage_of
from ollamaweb.core.sse import streaming_response
from ollamaweb.core.streams import merged_batches
from ollamaweb.usage.models import RequestLog

logger = logging.getLogger(__name__)

EARLY_END = "The model backend ended the stream before it was complete."


async def relay(pipeline, client, path: str, payloads: list[dict], translator, prompt_estimate: int):
    """The streaming response of `payloads` (one backend stream each), once its first bytes exist."""
    chunks = _translated(pipeline, client, path, payloads, translator, prompt_estimate)
    await anext(chunks)  # the first bytes are ready (a failure before them is raised here)
    return streaming_response(chunks, translator.media_type)


class _Progress:
    """Per backend call: whether it finished, what it reported, how many pieces it delivered."""

    __slots__ = ("done", "prompt_tokens", "completion_tokens", "pieces")

    def __init__(self):
        self.done, self.prompt_tokens, self.completion_tokens, self.pieces = False, 0, 0, 0


async def _translated(pipeline, client, path, payloads, translator, prompt_estimate):
    """The client's bytes; first None, once they are ready: relay() takes it and makes the response
    from this same generator (no wrapper to put back a first part it took)."""
    record = pipeline.record
    calls = [_Progress() for _ in payloads]
    batches = merged_batches(client, path, payloads)
    del payloads  # an open stream keeps nothing of its request: merged_batches lets go of it once sent
    started = charge = False
    status, error = 200, ""
    try:
        async with aclosing(batches):
            async for index, batch in batches:  # what arrived together is written together
                call = calls[index]
                out = []
                for chunk in batch:
                    if chunk.get("done"):
                        call.done = True
                        call.prompt_tokens, call.completion_tokens = usage_of(chunk)
                        record.add_durations(chunk)
                        pipeline.backend_call.done(chunk)
                    elif has_output(chunk):
                        call.pieces += 1
                        pipeline.backend_call.first_token()
                    data = translator.feed(index, chunk)
                    if data:
                        out.append(data)
                if out:
                    if not started:
                        started = True
                        yield None  # to relay(): the response can be made; these bytes go first
                    yield out[0] if len(out) == 1 else b"".join(out)
                batch = chunk = data = out = None  # nothing of this batch is held while the next is awaited
        if not all(call.done for call in calls):
            raise BackendError(EARLY_END)
        if not started:  # no chunk made any output: the end is the first bytes
            started = True
            yield None
        yield translator.end(sum(c.prompt_tokens for c in calls), sum(c.completion_tokens for c in calls))
    except GatewayError as exc:
        if not started:
            raise
        status, error = exc.status, exc.message
        yield pipeline.protocol.stream_error(exc)
    except Exception:
        if not started:
            raise
        logger.exception("unexpected error while relaying a stream")
        status, error = 500, "internal error (see server log)"
        yield pipeline.protocol.stream_error(ServerError("The server had an error while streaming."))
    except (asyncio.CancelledError, GeneratorExit):
        status, error = 499, "client disconnected"
        charge = True  # the backend had the prompt: a client that leaves early still pays for it
        raise
    finally:
        if started:
            pipeline.backend_call.close(status, error)  # the stream's backend call ends with it
        if started or charge:
            _count_usage(record, calls, prompt_estimate)
        if started:
            pipeline.settle(status, error)


def _count_usage(record, calls, prompt_estimate):
    """Exact counts from the backend; for an unfinished call, the estimated prompt and the pieces
    generated ("counted"), or the prompt alone when nothing was generated ("estimated")."""
    for call in calls:
        if call.done:
            record.add_usage(call.prompt_tokens, call.completion_tokens)
        elif call.pieces:
            record.add_usage(prompt_estimate, call.pieces, RequestLog.UsageSource.COUNTED)
        else:
            record.add_usage(prompt_estimate, 0, RequestLog.UsageSource.ESTIMATED)
