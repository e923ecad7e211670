import time
from functools import partial

from django.conf import settings

from ..streams import gather_or_cancel
from ..tokens import decode_token_lists
from ..translate.common import estimate_tokens, new_id, usage_body, usage_of
from ..translate.completions import CompletionStream, completion_body, completion_choice, parse_completion_request
from ..translate.versions import adapt_request, required_features
from .base import OpenAIView, json_response
from .relay import RelayMixin


class CompletionsView(RelayMixin, OpenAIView):
    """POST /v1/completions over Ollama's /api/generate; each prompt × n is one backend call."""

    endpoint = "completions"
    http_method_names = ["post"]

    async def post(self, request):
        completion = parse_completion_request(self.json_body(), settings.MAX_CHOICES)
        if completion.token_ids:
            completion.prompts = await decode_token_lists(completion.prompts, "prompt")
        self.record.stream = completion.stream
        self.record.client_user = completion.client_user
        model = await self.resolve_model(completion.model)
        prompt_tokens = estimate_tokens(max(len(prompt) for prompt in completion.prompts))
        calls_count = len(completion.prompts) * completion.n
        await self.admit_generation(model, completion.native, prompt_tokens, calls_count)
        calls = [
            (completion.choice_index(p, j), prompt, {"model": model, "prompt": prompt, **completion.native})
            for p, prompt in enumerate(completion.prompts)
            for j in range(completion.n)
        ]
        completion_id, created = new_id("cmpl-"), int(time.time())

        async def attempt(backend):
            payloads = [adapt_request(payload, backend.version, backend.name) for _, _, payload in calls]
            if completion.stream:
                return await self.relay(
                    backend.client,
                    "/api/generate",
                    payloads,
                    [CompletionStream(index, completion, prompt) for index, prompt, _ in calls],
                    partial(completion_body, completion_id, created, completion.model),
                    completion.include_usage,
                    prompt_tokens,
                )
            return await gather_or_cancel(backend.client.request("POST", "/api/generate", p) for p in payloads)

        outcome = await self.on_backends(model, required_features(completion.native), attempt)
        if completion.stream:
            return outcome
        for result in outcome:
            self.record.add_usage(*usage_of(result))
        choices = [
            completion_choice(result, index, completion, prompt) for (index, prompt, _), result in zip(calls, outcome)
        ]
        usage = usage_body(self.record.prompt_tokens, self.record.completion_tokens)
        return json_response(completion_body(completion_id, created, completion.model, choices, usage))
