"""/v1/responses: create (streaming or not), retrieve, delete, input_items — thin views over the
translation (compat/openai/responses.py) and the stored conversations (ollamaweb.conversations)."""

import asyncio
import logging
import time
from contextlib import aclosing

from django.http import StreamingHttpResponse

from ollamaweb.conversations import services
from ollamaweb.core.errors import GatewayError
from ollamaweb.db import run_in_thread
from ollamaweb.usage.models import RequestLog

from ..errors import BackendError, OpenAIError
from ..images import inline_remote_images
from ..openai import responses as translate
from ..translate.common import estimate_tokens, usage_of
from ..translate.versions import adapt_request, required_features
from .base import OpenAIView, json_response

logger = logging.getLogger(__name__)


def _openai_error(error: GatewayError) -> OpenAIError:
    kind = "invalid_request_error" if error.status < 500 and error.status != 429 else "api_error"
    return OpenAIError(error.message, param=error.param, code=error.code, status=error.status, type=kind)


class _CoreErrors:
    async def _handle(self, request, *args, **kwargs):
        try:
            return await super()._handle(request, *args, **kwargs)
        except GatewayError as exc:  # protocol-neutral errors of the translation and the services
            response = _openai_error(exc).response()
            response.error_message = exc.message
            return response


async def _guarded(coroutine):
    try:
        return await coroutine
    except GatewayError as exc:
        raise _openai_error(exc) from None


class ResponsesView(_CoreErrors, OpenAIView):
    """POST /v1/responses over Ollama's /api/chat, with previous_response_id from storage."""

    endpoint = "responses"
    http_method_names = ["post"]

    async def post(self, request):
        parsed = await _guarded(_parse(self.json_body()))
        self.record.stream = parsed.stream
        self.record.client_user = parsed.client_user
        history = []
        if parsed.previous_response_id:
            history = await _guarded(
                run_in_thread(services.conversation_items, self.identity.user_id, parsed.previous_response_id)
            )
        native_body = await _guarded(_native(parsed, history))
        model = await self.resolve_model(parsed.model)
        native = {"model": model, **native_body}
        prompt_tokens = estimate_tokens(sum(len(m.get("content") or "") + 16 for m in native["messages"]))
        await self.admit_generation(model, native, prompt_tokens)
        if translate.remote_images(native):
            await inline_remote_images(native["messages"])
        response_id, created = translate.new_response_id(), int(time.time())

        if parsed.stream:
            stream = translate.ResponsesStream(response_id, created, parsed.model, parsed)

            async def attempt(backend):
                payload = adapt_request(native, backend.version, backend.name)
                return await self._relay(backend.client, payload, stream, parsed, prompt_tokens)

            return await self.on_backends(model, required_features(native), attempt)

        async def call(backend):
            return await backend.client.request(
                "POST", "/api/chat", adapt_request(native, backend.version, backend.name)
            )

        result = await self.on_backends(model, required_features(native), call)
        self.record.add_usage(*usage_of(result))
        body = translate.response_from_native(response_id, created, parsed.model, parsed, result, int(time.time()))
        if parsed.store:
            await run_in_thread(
                services.save_response, self.identity.user_id, self.identity.key_id, body, parsed.input_items
            )
        return json_response(body)

    async def _relay(self, client, payload, stream, parsed, prompt_estimate):
        events = self._events(client, payload, stream, parsed, prompt_estimate)
        first = await anext(events)
        self.stream_owns_record = True
        response = StreamingHttpResponse(_prepend(first, events), content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response

    async def _events(self, client, payload, stream, parsed, prompt_estimate):
        started, done = False, False
        status, error = 200, ""
        prompt = completion = pieces = 0
        try:
            async with client.stream("/api/chat", payload) as lines, aclosing(lines):
                async for chunk in lines:
                    data = stream.feed(0, chunk)
                    if chunk.get("done"):
                        done = True
                        prompt, completion = usage_of(chunk)
                    elif data:
                        pieces += 1
                    if data:
                        self.record.mark_first_token()
                        started = True
                        yield data
            if not done:
                raise BackendError("The model backend ended the stream before it was complete.")
            final = stream.end(prompt, completion)
            if parsed.store:
                await run_in_thread(
                    services.save_response,
                    self.identity.user_id,
                    self.identity.key_id,
                    stream.response,
                    parsed.input_items,
                )
            yield final
        except OpenAIError as exc:
            if not started:
                raise
            status, error = exc.status, exc.message
            yield await self._failed(stream, parsed, exc.message)
        except Exception:
            if not started:
                raise
            logger.exception("unexpected error while relaying a response stream")
            status, error = 500, "internal error (see server log)"
            yield await self._failed(stream, parsed, "The server had an error while streaming.")
        except (asyncio.CancelledError, GeneratorExit):
            status, error = 499, "client disconnected"
            raise
        finally:
            if started:
                if done:
                    self.record.add_usage(prompt, completion)
                else:
                    self.record.add_usage(prompt_estimate, pieces, RequestLog.UsageSource.COUNTED)
                self.settle(status, error)

    async def _failed(self, stream, parsed, message):
        data = stream.fail(message)
        if parsed.store:
            await run_in_thread(
                services.save_response, self.identity.user_id, self.identity.key_id, stream.response, parsed.input_items
            )
        return data


async def _parse(body):
    return translate.parse_request(body)


async def _native(parsed, history):
    return translate.native_chat(parsed, history)


async def _prepend(first: bytes, events):
    async with aclosing(events):
        yield first
        async for item in events:
            yield item


class ResponseDetailView(_CoreErrors, OpenAIView):
    """GET /v1/responses/{id} (the stored Response) and DELETE /v1/responses/{id}."""

    endpoint = "responses.retrieve"
    http_method_names = ["get", "delete"]

    async def get(self, request, response_id):
        stored = await _guarded(run_in_thread(services.get_for_user, self.identity.user_id, response_id))
        return json_response(stored.response)

    async def delete(self, request, response_id):
        self.record.endpoint = "responses.delete"
        await _guarded(run_in_thread(services.delete_for_user, self.identity.user_id, response_id))
        return json_response(translate.deleted_object(response_id))


class ResponseInputItemsView(_CoreErrors, OpenAIView):
    """GET /v1/responses/{id}/input_items?after=&limit=&order=."""

    endpoint = "responses.input_items"
    http_method_names = ["get"]

    async def get(self, request, response_id):
        query = request.query_params
        limit = query.get("limit", "20")
        if not limit.lstrip("-").isdigit():
            raise OpenAIError(f"Invalid value for 'limit': {limit!r}.", param="limit", code="invalid_value")
        items, has_more = await _guarded(
            run_in_thread(
                lambda: services.list_input_items(
                    self.identity.user_id,
                    response_id,
                    after=query.get("after") or None,
                    limit=int(limit),
                    order=query.get("order", "desc"),
                )
            )
        )
        return json_response(translate.item_list(items, has_more))
