"""The Anthropic protocol: `x-api-key` or `Authorization: Bearer`, and Anthropic-shaped errors."""

import orjson
from django.http import HttpResponse

from ollamaweb.core.errors import GatewayError
from ollamaweb.gateway.protocol import Protocol

from .auth import MISSING_KEY_HINT, presented_key
from .errors import error_body, error_headers, status_and_type, stream_error_event
from .translate import new_id


class AnthropicProtocol(Protocol):
    name = "anthropic"
    missing_key_hint = MISSING_KEY_HINT

    def credentials(self, request) -> str:
        return presented_key(request.headers)

    def error_response(self, error: GatewayError, request_id: str | None = None) -> HttpResponse:
        status, _ = status_and_type(error)
        request_id = request_id or new_id("req_")
        response = HttpResponse(
            orjson.dumps(error_body(error, request_id)), status=status, content_type="application/json"
        )
        response["request-id"] = request_id
        for name, value in error_headers(error).items():
            response[name] = value
        return response

    def stream_error(self, error: GatewayError) -> bytes:
        return stream_error_event(error)


anthropic_protocol = AnthropicProtocol()
