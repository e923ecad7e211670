"""The Responses API routes: thin views over the pipeline, the translation (responses.py) and the
stored conversations (ollamaweb.conversations).

- POST /v1/responses — create, streaming or not; `previous_response_id` is rebuilt from storage;
- GET /v1/responses/{id}, DELETE /v1/responses/{id}, GET /v1/responses/{id}/input_items.
"""

import logging
import time
from contextlib import aclosing

import orjson
from django.http import HttpResponse

from ollamaweb.conversations import services
from ollamaweb.core import errors
from ollamaweb.core.db import run_in_thread
from ollamaweb.core.sse import streaming_response
from ollamaweb.gateway.generation import Generation
from ollamaweb.gateway.views import json_response

from . import responses as translate
from .protocol import OpenAIProtocol
from .views import OpenAIView

logger = logging.getLogger(__name__)


class _ResponseStreamProtocol(OpenAIProtocol):
    """The OpenAI protocol for one streamed response: a failure after the stream started ends it
    with `response.failed` (this response's id, output so far and next sequence number)."""

    def __init__(self, stream: translate.ResponsesStream):
        self.stream = stream

    def stream_error(self, error: errors.GatewayError) -> bytes:
        code = error.code if isinstance(error, errors.LimitReached) else "server_error"
        return self.stream.fail(error.message, code)


class ResponsesView(OpenAIView):
    """POST /v1/responses over Ollama's /api/chat."""

    endpoint = "responses"
    http_method_names = ["post"]
    setup_gated = True

    async def post(self, request):
        pipeline = self.pipeline
        parsed = translate.parse_request(pipeline.json_body())
        history = []
        if parsed.previous_response_id:
            history = await run_in_thread(
                services.conversation_items, self.identity.user_id, parsed.previous_response_id
            )
        native = translate.native_chat(parsed, history)
        generation = Generation(parsed.model, "/api/chat", [native], parsed.stream, parsed.client_user)
        response_id, created = translate.new_response_id(), int(time.time())
        pipeline.record.response_id = response_id
        if parsed.stream:
            stream = translate.ResponsesStream(response_id, created, parsed.model, parsed)
            pipeline.protocol = _ResponseStreamProtocol(stream)
            response = await pipeline.stream(generation, stream)
            if parsed.store:
                response.streaming_content = self._stored_when_done(response.streaming_content, stream, parsed)
            return response
        [result] = await pipeline.complete(generation)
        body = translate.response_from_native(response_id, created, parsed.model, parsed, result, int(time.time()))
        data = orjson.dumps(body)
        if parsed.store:
            await self._save(body, parsed, data)
        return HttpResponse(data, content_type="application/json")

    async def _stored_when_done(self, chunks, stream: translate.ResponsesStream, parsed):
        """Pass the stream on; store the response as soon as it is final, before its terminal event
        (`response.completed`, `.incomplete` or `.failed`) reaches the client, so the client can
        continue the conversation or retrieve it the moment it has the event."""
        stored = False
        async with aclosing(chunks):
            async for data in chunks:
                if stream.finished and not stored:
                    stored = True
                    await self._save(stream.response, parsed)
                yield data

    async def _save(self, body: dict, parsed, data: bytes | None = None):
        """Store the response (`data`: its JSON, if already serialised) before the client has it; if
        the database fails, the client still gets the answer it paid for (it just cannot be
        retrieved or continued), and the server log says why."""
        try:
            row = services.ResponseRow.of(self.identity.user_id, self.identity.key_id, body, parsed.input_items, data)
            await services.store(row)
        except Exception:
            logger.exception("could not store response %s", body["id"])


async def _once(data: bytes):
    yield data


class ResponseDetailView(OpenAIView):
    """GET /v1/responses/{id}: the stored Response (`?stream=true&starting_after=N` replays its
    events); DELETE /v1/responses/{id}."""

    endpoint = "responses.retrieve"
    http_method_names = ["get", "delete"]

    async def get(self, request, response_id):
        self.pipeline.record.response_id = response_id
        stored = await run_in_thread(services.get_for_user, self.identity.user_id, response_id)
        if request.GET.get("stream", "").lower() != "true":
            return json_response(stored.response)
        starting_after = request.GET.get("starting_after")
        if starting_after is not None and not starting_after.lstrip("-").isdigit():
            raise errors.InvalidRequest(
                f"Invalid value for 'starting_after': {starting_after!r}; expected an integer.",
                param="starting_after",
                code="invalid_value",
            )
        self.pipeline.record.stream = True
        replayed = translate.replay(stored.response, int(starting_after) if starting_after is not None else None)
        return streaming_response(_once(replayed))

    async def delete(self, request, response_id):
        self.pipeline.record.endpoint = "responses.delete"
        self.pipeline.record.response_id = response_id
        await run_in_thread(services.delete_for_user, self.identity.user_id, response_id)
        return json_response(translate.deleted_object(response_id))


class ResponseInputItemsView(OpenAIView):
    """GET /v1/responses/{id}/input_items?after=&limit=&order=."""

    endpoint = "responses.input_items"
    http_method_names = ["get"]

    async def get(self, request, response_id):
        self.pipeline.record.response_id = response_id
        query = request.GET
        limit = query.get("limit", "20")
        try:
            limit = int(limit)
        except ValueError:
            raise errors.InvalidRequest(
                f"Invalid value for 'limit': {limit!r}; expected an integer from 1 to 100.",
                param="limit",
                code="invalid_value",
            ) from None
        items, has_more = await run_in_thread(
            _list_input_items,
            self.identity.user_id,
            response_id,
            query.get("after") or None,
            limit,
            query.get("order") or "desc",
        )
        return json_response(translate.item_list(items, has_more))


def _list_input_items(user_id, response_id, after, limit, order):
    return services.list_input_items(user_id, response_id, after=after, limit=limit, order=order)
