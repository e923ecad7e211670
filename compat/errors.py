"""OpenAI-shaped errors: `{"error": {"message", "type", "param", "code"}}` with OpenAI's statuses."""

import orjson
from django.http import HttpResponse


class OpenAIError(Exception):
    status = 400
    type = "invalid_request_error"
    code = None

    def __init__(self, message, *, param=None, code=None, status=None, type=None, headers=None):
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if type is not None:
            self.type = type
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self) -> HttpResponse:
        response = HttpResponse(orjson.dumps(self.body()), status=self.status, content_type="application/json")
        for name, value in self.headers.items():
            response[name] = value
        return response


class InvalidRequest(OpenAIError):
    """400: the request cannot be served as sent (name the field in `param`)."""


class AuthenticationFailed(OpenAIError):
    status = 401
    code = "invalid_api_key"


class PermissionDenied(OpenAIError):
    status = 403
    type = "permission_error"
    code = "model_not_allowed"


class NotFound(OpenAIError):
    status = 404
    code = "model_not_found"


class MethodNotAllowed(OpenAIError):
    status = 405
    code = "method_not_allowed"


class RateLimited(OpenAIError):
    """429; `type` is `rate_limit_exceeded` or `insufficient_quota`, as the openai client expects."""

    status = 429
    type = "rate_limit_exceeded"

    def __init__(self, message, retry_after=1, headers=None, **kwargs):
        super().__init__(message, headers={**(headers or {}), "Retry-After": str(retry_after)}, **kwargs)


class BackendError(OpenAIError):
    """The Ollama backend failed; subclasses pick the status OpenAI clients understand."""

    status = 502
    type = "api_error"
    code = "backend_error"


class BackendUnavailable(BackendError):
    status = 503
    code = "backend_unavailable"


class BackendBusy(BackendError):
    status = 503
    code = "backend_busy"

    def __init__(self, message, retry_after=1, **kwargs):
        super().__init__(message, headers={"Retry-After": str(retry_after)}, **kwargs)


class BackendTimeout(BackendError):
    status = 504
    code = "backend_timeout"
