import asyncio
import time

from ollamaweb.backends.registry import registry
from ollamaweb.catalog.aliases import alias_table

from ..errors import NotFound
from ..translate.common import unix_time
from ..translate.models import canonical, merge_model_lists, model_object, models_from_tags, owner_of
from .base import OpenAIView, json_response

ALIAS_OWNER = "ollamaweb"


class ModelListView(OpenAIView):
    """GET /v1/models: the models of every reachable backend plus aliases, filtered by the key's allow-list."""

    endpoint = "models"
    http_method_names = ["get"]

    async def get(self, request):
        now = int(time.time())
        backends = [backend for backend in await registry.backends() if backend.up is not False]
        answers = await asyncio.gather(
            *(backend.client.request("GET", "/api/tags") for backend in backends), return_exceptions=True
        )
        listings = [models_from_tags(answer, now) for answer in answers if isinstance(answer, dict)]
        if not listings and answers:
            raise answers[0]
        models = merge_model_lists(listings)
        created = {canonical(model["id"]): model["created"] for model in models}
        for alias in (await alias_table.all()).values():
            models.append(model_object(alias.name, created.get(canonical(alias.target), alias.created), ALIAS_OWNER))
        allowed = self.identity.allowed_models
        if allowed:
            names = {canonical(name) for name in allowed}
            models = [model for model in models if canonical(model["id"]) in names]
        return json_response({"object": "list", "data": models})


class ModelDetailView(OpenAIView):
    """GET /v1/models/{model}: ids may contain `/` (`hf.co/org/repo:tag`, `user/model`)."""

    endpoint = "models.retrieve"
    http_method_names = ["get"]

    async def get(self, request, model):
        self.check_model_allowed(model)
        self.record.requested_model = model
        aliases = await alias_table.all()
        alias = aliases.get(model) or aliases.get(model.removesuffix(":latest"))
        target = alias.target if alias else model
        self.record.resolved_model = target

        async def show(backend):
            return await backend.client.request("POST", "/api/show", {"model": target})

        shown = await self.on_backends(target, frozenset(), show)
        created = unix_time(shown.get("modified_at"), int(time.time()))
        return json_response(model_object(model, created, ALIAS_OWNER if alias else owner_of(model)))


class UnknownRouteView(OpenAIView):
    """Any other /v1 path: an OpenAI-shaped 404 (after authentication, as OpenAI does)."""

    endpoint = "unknown"
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    async def _not_found(self, request, *args, **kwargs):
        raise NotFound(f"Invalid URL ({request.method} {request.path}).", code="unknown_url")

    get = post = put = patch = delete = head = options = _not_found
