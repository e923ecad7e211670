"""The Ollama protocol: `Authorization: Bearer <key>` or the Ollama CLI's signature, Ollama-shaped errors.

Errors are `{"error": "..."}` with the gateway error's status (401, 403, 404, 429 with
Retry-After, 400, 413, 500, 502, 503, 504). A 401 also carries `signin_url`, the portal page where
a user registers their Ollama key: the Ollama CLI prints it ("navigate to: …") after a 401.
After a stream has started, an error is a last NDJSON line `{"error": "..."}`, as Ollama ends its
own streams; every Ollama client raises it.
"""

import orjson
from django.core.exceptions import DisallowedHost
from django.http import HttpResponse

from ollamaweb.core.errors import AuthenticationFailed, GatewayError
from ollamaweb.gateway.protocol import Protocol
from ollamaweb.keys import signatures

from .native import error_body
from .streaming import error_line

OLLAMA_KEYS_PAGE = "/keys/ollama/"


def signature_query(request) -> list[tuple[str, str]]:
    return [(name, value) for name, values in request.GET.lists() for value in values]


class OllamaProtocol(Protocol):
    name = "ollama"
    missing_key_hint = (
        "Send it in an Authorization header (Authorization: Bearer sk-...); the ollama command line "
        "can sign its requests instead (OLLAMA_AUTH=1) with an Ollama key registered in the portal."
    )

    async def authenticate(self, request):
        header = request.headers.get("Authorization", "")
        try:
            if signatures.looks_signed(header):
                return await signatures.authenticate(
                    request.method, request.path_info, signature_query(request), header
                )
            return await super().authenticate(request)
        except AuthenticationFailed as exc:
            try:
                exc.signin_url = request.build_absolute_uri(OLLAMA_KEYS_PAGE)
            except DisallowedHost:
                pass
            raise

    def error_response(self, error: GatewayError) -> HttpResponse:
        body = error_body(error.message, getattr(error, "signin_url", ""))
        return HttpResponse(orjson.dumps(body), status=error.status, content_type="application/json; charset=utf-8")

    def stream_error(self, error: GatewayError) -> bytes:
        return error_line(error.message)


ollama_protocol = OllamaProtocol()
