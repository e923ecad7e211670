"""Relaying native NDJSON streams to the client as OpenAI server-sent events."""

import asyncio
import logging
import time
from contextlib import aclosing

from ollamaweb.usage.models import RequestLog

from .. import sse
from ..errors import BackendError, OpenAIError
from ..ollama import OllamaClient
from ..streams import merged_streams
from ..translate.common import usage_body

logger = logging.getLogger(__name__)

EARLY_END = "The model backend ended the stream before it was complete."


class RelayMixin:
    """For OpenAIView subclasses: `await self.relay(...)` returns the SSE response.

    The first event is produced before the response is returned, so a failure before any output
    (unknown model, backend down or busy) still gets its proper HTTP status. After that, a failure
    ends the stream with an OpenAI error event (never a silent truncation or a fake [DONE]).
    """

    async def relay(
        self,
        backend: OllamaClient,
        path: str,
        payloads: list[dict],
        translators,
        envelope,
        include_usage,
        prompt_estimate=0,
    ):
        events = self._events(backend, path, payloads, translators, envelope, include_usage, prompt_estimate)
        first = await anext(events)
        self.stream_owns_record = True
        return sse.sse_response(_prepend(first, events))

    async def _events(self, backend, path, payloads, translators, envelope, include_usage, prompt_estimate):
        started = False
        status, error = 200, ""
        try:
            async with aclosing(merged_streams(backend, path, payloads)) as items:
                async for index, native in items:
                    translator = translators[index]
                    if native.get("done"):
                        self.record.add_durations(native)
                    choice = translator.feed(native)
                    if choice is not None:
                        self.backend_call.first_token()
                        started = True
                        yield sse.event(envelope([choice], None))
                    if translator.done:
                        started = True  # a choice may finish without any output (empty completion)
                        yield sse.event(envelope([translator.finish()], None))
            if not all(translator.done for translator in translators):
                raise BackendError(EARLY_END)
            if include_usage:
                prompt = sum(t.prompt_tokens for t in translators)
                completion = sum(t.completion_tokens for t in translators)
                yield sse.event(envelope([], usage_body(prompt, completion)))
            yield sse.DONE
        except OpenAIError as exc:
            if not started:
                raise
            status, error = exc.status, exc.message
            yield sse.event(exc.body())
        except Exception:
            if not started:
                raise
            logger.exception("unexpected error while relaying a stream")
            status, error = 500, "internal error (see server log)"
            yield sse.event(
                OpenAIError("The server had an error while streaming.", status=500, type="server_error").body()
            )
        except (asyncio.CancelledError, GeneratorExit):
            status, error = 499, "client disconnected"
            self.record.disconnected = True
            raise
        finally:
            self.record.backend_ended = time.perf_counter()
            if started:
                self._count_usage(translators, prompt_estimate)
                self.settle(status, error)

    def _count_usage(self, translators, prompt_estimate):
        """Exact counts from the backend; for an unfinished stream, the pieces delivered ("counted")."""
        for translator in translators:
            if translator.done:
                self.record.add_usage(translator.prompt_tokens, translator.completion_tokens)
            else:
                self.record.add_usage(prompt_estimate, translator.pieces_delivered, RequestLog.UsageSource.COUNTED)


async def _prepend(first: bytes, events):
    async with aclosing(events):
        yield first
        async for item in events:
            yield item
