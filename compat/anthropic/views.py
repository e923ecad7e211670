"""The Anthropic routes: POST /v1/messages and /v1/messages/count_tokens, thin views over the pipeline."""

from ollamaweb.core.errors import InvalidRequest
from ollamaweb.core.versions import adapt_request, has, required_features
from ollamaweb.gateway.generation import Generation
from ollamaweb.gateway.images import inline_remote_images
from ollamaweb.gateway.pipeline import thinking_unsupported
from ollamaweb.gateway.views import GatewayView, json_response

from .protocol import anthropic_protocol
from .translate import (
    MessagesStream,
    count_tokens_body,
    count_tokens_result,
    estimate_input_tokens,
    parse_count_tokens_request,
    parse_messages_request,
    render_message,
)


class AnthropicView(GatewayView):
    """Every answer carries the request-log id as Anthropic's `request-id` (the SDKs expose it as
    `_request_id`), and errors name it in `request_id`, so a user's report finds the log row."""

    protocol = anthropic_protocol
    http_method_names = ["post"]

    async def dispatch(self, request, *args, **kwargs):
        response = await super().dispatch(request, *args, **kwargs)
        response["request-id"] = self.pipeline.record.request_id
        return response

    def _error(self, error, logged_message: str):
        response = self.protocol.error_response(error, self.pipeline.record.request_id)
        for name, value in error.headers.items():
            response[name] = value
        response.error_message = logged_message
        return response


class MessagesView(AnthropicView):
    """POST /v1/messages over Ollama's /api/chat (`thinking` is a preference, see Generation)."""

    endpoint = "messages"
    setup_gated = True

    async def post(self, request, **kwargs):
        parsed = parse_messages_request(self.pipeline.json_body())
        generation = Generation(
            parsed.model, "/api/chat", [parsed.native], parsed.stream, parsed.client_user, think_optional=True
        )
        if parsed.stream:
            translator = MessagesStream(parsed.model, input_estimate=estimate_input_tokens(parsed.native))
            return await self.pipeline.stream(generation, translator)
        [result] = await self.pipeline.complete(generation)
        return json_response(render_message(result, parsed.model))


class CountTokensView(AnthropicView):
    """POST /v1/messages/count_tokens: the backend's exact prompt count, charging no quota.

    The conversation is rendered as /v1/messages would send it and the backend generates one
    token; its `prompt_eval_count` (the model's template and tokenizer, tools and images
    included) is the answer. No quota is reserved or charged and the log row carries no tokens:
    the prompt is counted, not served (and the backend's prompt cache is warm for the real call).
    """

    endpoint = "messages.count_tokens"

    async def post(self, request, **kwargs):
        parsed = parse_count_tokens_request(self.pipeline.json_body())
        pipeline = self.pipeline
        model = await pipeline.resolve(parsed.model)
        native = count_tokens_body({**parsed.native, "model": model})
        await inline_remote_images(native["messages"])

        async def count(backend):
            sent = native
            if sent.get("think") and not has(backend.version, "think"):
                sent = _without_think(sent)
            sent = adapt_request(sent, backend.version, backend.name)
            try:
                return await backend.client.request("POST", "/api/chat", sent)
            except InvalidRequest as exc:
                if not thinking_unsupported(exc, sent):
                    raise
                return await backend.client.request("POST", "/api/chat", _without_think(sent))

        result = await pipeline.on_backends(model, required_features(_without_think(native)), count)
        return json_response(count_tokens_result(result, native))


def _without_think(payload: dict) -> dict:
    return {key: value for key, value in payload.items() if key != "think"}
