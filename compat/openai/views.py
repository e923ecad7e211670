"""The OpenAI routes under /v1: thin views over the pipeline."""

import time
from functools import partial

from django.conf import settings

from ollamaweb.core.names import canonical, owner_of
from ollamaweb.gateway import discovery
from ollamaweb.gateway import views as gateway_views
from ollamaweb.gateway.generation import Generation
from ollamaweb.gateway.views import GatewayView, json_response

from .chat import ChatStream, chat_choice, parse_chat_request
from .common import choices_envelope, new_id, unix_time, usage_body
from .completions import CompletionStream, completion_choice, parse_completion_request
from .embeddings import embeddings_body, parse_embeddings_request
from .models import merge_model_lists, model_object, models_from_tags
from .protocol import openai_protocol
from .streaming import ChoicesStream
from .token_ids import decode_token_lists

ALIAS_OWNER = "ollamaweb"


class OpenAIView(GatewayView):
    protocol = openai_protocol


class ChoicesView(OpenAIView):
    """A route whose answer is `choices`, one per backend call: one body, or a stream of chunks."""

    http_method_names = ["post"]
    setup_gated = True
    id_prefix = ""
    body_object = chunk_object = ""

    async def respond(self, generation: Generation, streams, choices_of, include_usage: bool):
        """`streams()` are the per-choice stream translators; `choices_of(results)` the choices of a body."""
        completion_id, created, model = new_id(self.id_prefix), int(time.time()), generation.model
        if generation.stream:
            chunk = partial(choices_envelope, self.chunk_object, completion_id, created, model)
            return await self.pipeline.stream(generation, ChoicesStream(streams(), chunk, include_usage))
        choices = choices_of(await self.pipeline.complete(generation))
        usage = usage_body(self.pipeline.record.prompt_tokens, self.pipeline.record.completion_tokens)
        return json_response(choices_envelope(self.body_object, completion_id, created, model, choices, usage))


class ChatCompletionsView(ChoicesView):
    """POST /v1/chat/completions over Ollama's /api/chat; `n` choices are n concurrent calls."""

    endpoint = "chat.completions"
    id_prefix, body_object, chunk_object = "chatcmpl-", "chat.completion", "chat.completion.chunk"

    async def post(self, request):
        chat = parse_chat_request(self.pipeline.json_body(), settings.MAX_CHOICES)
        payloads = [{**chat.native} for _ in range(chat.n)]
        return await self.respond(
            Generation(chat.model, "/api/chat", payloads, chat.stream, chat.client_user),
            lambda: [ChatStream(i, chat.logprobs) for i in range(chat.n)],
            lambda results: [chat_choice(result, i, chat.logprobs) for i, result in enumerate(results)],
            chat.include_usage,
        )


class CompletionsView(ChoicesView):
    """POST /v1/completions over Ollama's /api/generate; each prompt × n is one backend call."""

    endpoint = "completions"
    id_prefix, body_object, chunk_object = "cmpl-", "text_completion", "text_completion"

    async def post(self, request):
        completion = parse_completion_request(self.pipeline.json_body(), settings.MAX_CHOICES)
        if completion.token_ids:
            completion.prompts = await decode_token_lists(completion.prompts, "prompt")
        calls = [
            (completion.choice_index(p, j), prompt)
            for p, prompt in enumerate(completion.prompts)
            for j in range(completion.n)
        ]
        payloads = [{"prompt": prompt, **completion.native} for _, prompt in calls]
        return await self.respond(
            Generation(completion.model, "/api/generate", payloads, completion.stream, completion.client_user),
            lambda: [CompletionStream(index, completion, prompt) for index, prompt in calls],
            lambda results: [
                completion_choice(result, index, completion, prompt) for (index, prompt), result in zip(calls, results)
            ],
            completion.include_usage,
        )


class EmbeddingsView(OpenAIView):
    """POST /v1/embeddings over Ollama's /api/embed."""

    endpoint = "embeddings"
    http_method_names = ["post"]
    setup_gated = True

    async def post(self, request):
        embeddings = parse_embeddings_request(self.pipeline.json_body())
        texts = await decode_token_lists(embeddings.inputs, "input") if embeddings.token_ids else embeddings.inputs
        payload = {"input": texts, **embeddings.native}
        generation = Generation(embeddings.model, "/api/embed", [payload], client_user=embeddings.client_user)
        [result] = await self.pipeline.complete(generation)
        return json_response(embeddings_body(result, embeddings.model, embeddings.encoding_format))


class ModelListView(OpenAIView):
    """GET /v1/models: the models of every reachable backend plus aliases, filtered by the key's allow-list
    and its team's models."""

    endpoint = "models"
    http_method_names = ["get"]

    async def get(self, request):
        now = int(time.time())
        models = merge_model_lists([models_from_tags(tags, now) for tags in await discovery.backend_listings()])
        created = {canonical(model["id"]): model["created"] for model in models}
        for alias in await discovery.aliases():
            target_created = created.get(canonical(alias.target), alias.created)
            models.append(model_object(alias.name, target_created, ALIAS_OWNER))
        visible = await discovery.visible_to(self.identity)
        models = [model for model in models if visible(model["id"])]
        return json_response({"object": "list", "data": models})


class ModelDetailView(OpenAIView):
    """GET /v1/models/{model}: ids may contain `/` (`hf.co/org/repo:tag`, `user/model`)."""

    endpoint = "models.retrieve"
    http_method_names = ["get"]

    async def get(self, request, model):
        pipeline = self.pipeline
        target = await pipeline.resolve(model)

        async def show(backend):
            return await backend.client.request("POST", "/api/show", {"model": target})

        shown = await pipeline.on_backends(target, frozenset(), show)
        created = unix_time(shown.get("modified_at"), int(time.time()))
        owner = ALIAS_OWNER if target != model else owner_of(model)
        return json_response(model_object(model, created, owner))


class UnknownRouteView(OpenAIView, gateway_views.UnknownRouteView):
    """Any other /v1 path: an OpenAI-shaped 404."""

    endpoint = "unknown"
    message = "Invalid URL ({method} {path})."
