"""Ollama's native routes under /api: thin views over the pipeline (inference) and the backends.

Inference (/api/chat, /api/generate, /api/embed, /api/embeddings) goes through the same pipeline
as /v1: keys, aliases, allow-lists, quotas, routing, failover, version adaptation, usage and the
request log (endpoints `ollama.chat`, `ollama.generate`, `ollama.embed`, `ollama.embeddings`).
Discovery (/api/tags, /api/show, /api/ps) needs a key and shows only what it may use; /api/version
and `GET /` (see ollamaweb/gateway/probe.py) answer without one, as probes. Model management needs a key with the
"manage models" scope.
"""

import asyncio
from contextlib import aclosing

from django.http import HttpResponse

from ollamaweb.backends import native_management as management
from ollamaweb.backends.registry import registry
from ollamaweb.core.errors import GatewayError, PermissionDenied, ServerError
from ollamaweb.core.sse import streaming_response
from ollamaweb.gateway import discovery
from ollamaweb.gateway import views as gateway_views
from ollamaweb.gateway.generation import Generation
from ollamaweb.gateway.views import GatewayView, json_response

from . import listing, native
from .protocol import ollama_protocol
from .streaming import MEDIA_TYPE, NativeStream, error_line, line

MANAGE_SCOPE = "This API key may not manage models (pull, push, create, copy, delete). Staff can allow it for the key."


class OllamaView(GatewayView):
    protocol = ollama_protocol


# -- inference ----------------------------------------------------------------------------------


class GenerationView(OllamaView):
    """A generation route: the body is parsed by `parse`, sent to `path`, relayed as Ollama streams."""

    http_method_names = ["post"]
    setup_gated = True
    parse = None
    path = ""

    async def post(self, request):
        model, payload, stream = type(self).parse(self.pipeline.json_body())
        generation = Generation(model, self.path, [payload], stream)
        if stream:
            return await self.pipeline.stream(generation, NativeStream(model))
        [result] = await self.pipeline.complete(generation)
        return json_response(native.render(result, model))


class ChatView(GenerationView):
    endpoint = "ollama.chat"
    parse, path = native.chat_request, native.CHAT


class GenerateView(GenerationView):
    endpoint = "ollama.generate"
    parse, path = native.generate_request, native.GENERATE


class EmbedView(OllamaView):
    endpoint = "ollama.embed"
    http_method_names = ["post"]
    setup_gated = True
    parse = native.embed_request

    def render(self, result: dict, model: str) -> dict:
        return native.render(result, model)

    async def post(self, request):
        model, payload = type(self).parse(self.pipeline.json_body())
        [result] = await self.pipeline.complete(Generation(model, native.EMBED, [payload]))
        return json_response(self.render(result, model))


class EmbeddingsView(EmbedView):
    """The legacy /api/embeddings, served by /api/embed (which reports usage)."""

    endpoint = "ollama.embeddings"
    parse = native.embeddings_request

    def render(self, result: dict, model: str) -> dict:
        return native.render_embeddings(result)


# -- discovery ----------------------------------------------------------------------------------


async def _alias_targets() -> dict[str, str]:
    return {alias.name: alias.target for alias in await discovery.aliases()}


class TagsView(OllamaView):
    endpoint = "ollama.tags"
    http_method_names = ["get", "head"]

    async def get(self, request):
        listings = [tags.get("models") or [] for tags in await discovery.backend_listings()]
        return json_response(listing.tags(listings, await _alias_targets(), self.identity.allowed_models))


class ShowView(OllamaView):
    endpoint = "ollama.show"
    http_method_names = ["post"]

    async def post(self, request):
        model, payload = native.show_request(self.pipeline.json_body())
        target = await self.pipeline.resolve(model)

        async def show(backend):
            return await backend.client.request("POST", "/api/show", {**payload, "model": target})

        return json_response(await self.pipeline.on_backends(target, frozenset(), show))


async def _each_up_backend(path: str) -> list[dict]:
    """GET `path` on every reachable backend; the answers (raises the first failure if none answers)."""
    backends = [backend for backend in await registry.backends() if backend.up is not False]
    answers = await asyncio.gather(*(b.client.request("GET", path) for b in backends), return_exceptions=True)
    results = [answer for answer in answers if isinstance(answer, dict)]
    if not results and answers:
        raise answers[0]
    return results


class PsView(OllamaView):
    endpoint = "ollama.ps"
    http_method_names = ["get"]

    async def get(self, request):
        listings = [ps.get("models") or [] for ps in await _each_up_backend("/api/ps")]
        return json_response(listing.running(listings, await _alias_targets(), self.identity.allowed_models))


class VersionView(OllamaView):
    """GET /api/version, without a key (clients probe it first): the newest backend's version."""

    endpoint = "ollama.version"
    http_method_names = ["get", "head"]
    authenticated = False

    async def get(self, request):
        try:
            answers = await _each_up_backend("/api/version")
        except GatewayError:
            answers = []
        return json_response({"version": listing.newest_version(str(a.get("version") or "") for a in answers)})


class UnknownRouteView(OllamaView, gateway_views.UnknownRouteView):
    """Any other /api path (including Ollama's account and experimental routes): 404."""

    endpoint = "ollama.unknown"
    message = "404 page not found ({method} {path})"


# -- model management ---------------------------------------------------------------------------


class ManageView(OllamaView):
    def require_manage_scope(self):
        if not self.identity.can_manage_models:
            raise PermissionDenied(MANAGE_SCOPE, code="scope_missing")

    def claim_model(self, model: str):
        """Log `model` as the requested one and refuse it unless the key may use it."""
        self.pipeline.record.requested_model = model
        self.pipeline.check_model_allowed(model)

    def progress_response(self, lines, stream: bool):
        """Relay progress lines as NDJSON (or only the last one), with the first line ready first, so a
        failure before any progress still gets its HTTP status; later ones end the stream with an error line.
        """
        pipeline = self.pipeline
        pipeline.record.stream = stream

        async def relay(first):
            status, error = 200, ""
            try:
                yield line(first)
                async for item in lines:
                    yield line(item)
            except GatewayError as exc:
                status, error = exc.status, exc.message
                yield error_line(exc.message)
            except (asyncio.CancelledError, GeneratorExit):
                status, error = 499, "client disconnected"
                raise
            except Exception:
                status, error = 500, "internal error (see server log)"
                yield error_line(ServerError("The server had an error while streaming.").message)
            finally:
                await lines.aclose()
                pipeline.settle(status, error)

        async def respond():
            first = await anext(lines)
            if not stream:
                last = first
                async with aclosing(lines):
                    async for item in lines:
                        last = item
                return json_response(last)
            pipeline.stream_owns_record = True
            return streaming_response(relay(first), MEDIA_TYPE)

        return respond()


class ProgressView(ManageView):
    """A route that relays Ollama's progress lines from `targets(model)` (pull, push, create)."""

    http_method_names = ["post"]
    path = ""

    async def targets(self, model: str) -> list:
        return await management.enabled_targets()

    async def post(self, request):
        self.require_manage_scope()
        model, payload, stream = native.progress_request(self.pipeline.json_body())
        self.claim_model(model)
        targets = await self.targets(model)
        return await self.progress_response(
            management.progress(self.path, {**payload, "model": model}, targets), stream
        )


class PullView(ProgressView):
    endpoint, path = "ollama.pull", "/api/pull"


class PushView(ProgressView):
    endpoint, path = "ollama.push", "/api/push"

    async def targets(self, model: str) -> list:
        return [await management.push_target(model)]


class CreateView(ProgressView):
    endpoint, path = "ollama.create", "/api/create"


class CopyView(ManageView):
    endpoint = "ollama.copy"
    http_method_names = ["post"]

    async def post(self, request):
        self.require_manage_scope()
        source, destination = native.copy_request(self.pipeline.json_body())
        self.claim_model(source)
        self.pipeline.check_model_allowed(destination)
        self.pipeline.record.resolved_model = destination
        await management.copy(source, destination)
        return HttpResponse(status=200)


class DeleteView(ManageView):
    endpoint = "ollama.delete"
    http_method_names = ["delete"]

    async def delete(self, request):
        self.require_manage_scope()
        model = native.delete_request(self.pipeline.json_body())
        self.claim_model(model)
        await management.delete(model)
        return HttpResponse(status=200)


class BlobView(ManageView):
    endpoint = "ollama.blobs"
    http_method_names = ["head", "post"]

    async def head(self, request, digest):
        self.require_manage_scope()
        exists = await management.blob_exists(native.blob_digest(digest))
        return HttpResponse(status=200 if exists else 404)

    async def post(self, request, digest):
        self.require_manage_scope()
        await management.upload_blob(native.blob_digest(digest), request.body)
        return HttpResponse(status=201)
