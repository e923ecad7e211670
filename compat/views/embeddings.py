from ..errors import NotFound
from ..ollama import backend_for
from ..translate.common import estimate_tokens
from ..translate.embeddings import embeddings_body, parse_embeddings_request
from .base import OpenAIView, json_response


class EmbeddingsView(OpenAIView):
    """POST /v1/embeddings over Ollama's /api/embed."""

    endpoint = "embeddings"
    http_method_names = ["post"]

    async def post(self, request):
        embeddings = parse_embeddings_request(self.json_body())
        self.record.client_user = embeddings.client_user
        model = await self.resolve_model(embeddings.model)
        await self.admit(model, estimate_tokens(sum(len(text) for text in embeddings.inputs)))
        try:
            result = await backend_for(model).request("POST", "/api/embed", {"model": model, **embeddings.native})
        except NotFound:
            raise self.model_not_found(embeddings.model) from None
        body = embeddings_body(result, embeddings.model, embeddings.encoding_format)
        self.record.add_usage(body["usage"]["prompt_tokens"], 0)
        return json_response(body)
