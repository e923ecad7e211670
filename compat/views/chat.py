import time
from functools import partial

from django.conf import settings

from ..images import inline_remote_images
from ..streams import gather_or_cancel
from ..translate.chat import ChatStream, chat_choice, chat_chunk, chat_completion, parse_chat_request
from ..translate.common import estimate_tokens, new_id, usage_body, usage_of
from ..translate.versions import adapt_request, required_features
from .base import OpenAIView, json_response
from .relay import RelayMixin


class ChatCompletionsView(RelayMixin, OpenAIView):
    """POST /v1/chat/completions over Ollama's /api/chat; `n` choices are n concurrent calls."""

    endpoint = "chat.completions"
    http_method_names = ["post"]

    async def post(self, request):
        chat = parse_chat_request(self.json_body(), settings.MAX_CHOICES)
        self.record.stream = chat.stream
        self.record.client_user = chat.client_user
        model = await self.resolve_model(chat.model)
        native = {"model": model, **chat.native}
        prompt_tokens = estimate_tokens(sum(len(m.get("content") or "") + 16 for m in native["messages"]))
        await self.admit_generation(model, native, prompt_tokens, chat.n)
        if chat.remote_images:
            await inline_remote_images(native["messages"])
        completion_id, created = new_id("chatcmpl-"), int(time.time())

        async def attempt(backend):
            payload = adapt_request(native, backend.version, backend.name)
            if chat.stream:
                return await self.relay(
                    backend.client,
                    "/api/chat",
                    [payload] * chat.n,
                    [ChatStream(i, chat.logprobs) for i in range(chat.n)],
                    partial(chat_chunk, completion_id, created, chat.model),
                    chat.include_usage,
                    prompt_tokens,
                )
            return await gather_or_cancel(backend.client.request("POST", "/api/chat", payload) for _ in range(chat.n))

        outcome = await self.on_backends(model, required_features(native), attempt)
        if chat.stream:
            return outcome
        for result in outcome:
            self.record.add_usage(*usage_of(result))
        choices = [chat_choice(result, i, chat.logprobs) for i, result in enumerate(outcome)]
        usage = usage_body(self.record.prompt_tokens, self.record.completion_tokens)
        return json_response(chat_completion(completion_id, created, chat.model, choices, usage))
