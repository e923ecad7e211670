"""The OpenAI protocol: `Authorization: Bearer` or Azure's `api-key`, and OpenAI-shaped errors.

`{"error": {"message", "type", "param", "code"}}` with the status and `type` the openai clients
map to their exception classes (BadRequestError, AuthenticationError, RateLimitError, ...).
"""

import orjson
from django.http import HttpResponse

from ollamaweb.core import errors
from ollamaweb.core.sse import event
from ollamaweb.gateway.auth import bearer_secret
from ollamaweb.gateway.protocol import Protocol


def error_type(error: errors.GatewayError) -> str:
    if isinstance(error, errors.PermissionDenied):
        return "permission_error"
    if isinstance(error, errors.LimitReached):
        return error.code  # insufficient_quota or rate_limit_exceeded, as OpenAI sends them
    if isinstance(error, errors.BackendError | errors.Unavailable):
        return "api_error"
    if isinstance(
        error, errors.InvalidRequest | errors.AuthenticationFailed | errors.NotFound | errors.MethodNotAllowed
    ):
        return "invalid_request_error"
    return "server_error"


def error_body(error: errors.GatewayError) -> dict:
    return {"error": {"message": error.message, "type": error_type(error), "param": error.param, "code": error.code}}


class OpenAIProtocol(Protocol):
    name = "openai"
    missing_key_hint = "Send it in an Authorization header (Authorization: Bearer sk-...) or an api-key header."

    def credentials(self, request) -> str:
        return bearer_secret(request) or request.headers.get("api-key", "").strip()

    def error_response(self, error: errors.GatewayError) -> HttpResponse:
        return HttpResponse(orjson.dumps(error_body(error)), status=error.status, content_type="application/json")

    def stream_error(self, error: errors.GatewayError) -> bytes:
        return event(error_body(error))


openai_protocol = OpenAIProtocol()
