from ..tokens import decode_token_lists
from ..translate.common import estimate_tokens
from ..translate.embeddings import embeddings_body, parse_embeddings_request, shorten
from ..translate.versions import adapt_request
from .base import OpenAIView, json_response


class EmbeddingsView(OpenAIView):
    """POST /v1/embeddings over Ollama's /api/embed."""

    endpoint = "embeddings"
    http_method_names = ["post"]

    async def post(self, request):
        embeddings = parse_embeddings_request(self.json_body())
        self.record.client_user = embeddings.client_user
        texts = await decode_token_lists(embeddings.inputs, "input") if embeddings.token_ids else embeddings.inputs
        model = await self.resolve_model(embeddings.model)
        await self.admit(model, estimate_tokens(sum(len(text) for text in texts)))
        native = {"model": model, "input": texts, **embeddings.native}

        async def attempt(backend):
            payload = adapt_request(native, backend.version, backend.name)
            result = await backend.client.request("POST", "/api/embed", payload)
            if native.get("dimensions") and "dimensions" not in payload:  # an old backend: shorten here
                result["embeddings"] = [
                    shorten(vector, native["dimensions"]) for vector in result.get("embeddings") or ()
                ]
            return result

        result = await self.on_backends(model, frozenset(), attempt)
        body = embeddings_body(result, embeddings.model, embeddings.encoding_format)
        self.record.add_usage(body["usage"]["prompt_tokens"], 0)
        return json_response(body)
