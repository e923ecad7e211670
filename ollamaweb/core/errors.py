"""The gateway's errors, in no protocol's shape.

The pipeline, the domain apps and the Ollama client raise these; each protocol in `compat/` turns
them into its own error body (OpenAI, Anthropic or Ollama) with the status given here.
"""


class GatewayError(Exception):
    """Base class: `status` is the HTTP status, `code` a stable machine-readable reason.

    Errors a client should retry later carry `retry_after` (seconds; sent as `Retry-After`).
    """

    status = 500
    code = "internal_error"
    retry_after: int | None = None

    def __init__(self, message: str, *, param=None, code=None, status=None, headers=None, retry_after=None):
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if retry_after is not None:
            self.retry_after = retry_after
        self.headers: dict[str, str] = dict(headers or {})
        if self.retry_after is not None:
            self.headers["Retry-After"] = str(self.retry_after)


class InvalidRequest(GatewayError):
    """400: the request cannot be served as sent (name the field in `param`)."""

    status = 400
    code = None


class RequestTooLarge(InvalidRequest):
    status = 413
    code = "request_too_large"


class AuthenticationFailed(GatewayError):
    status = 401
    code = "invalid_api_key"


class PermissionDenied(GatewayError):
    status = 403
    code = "model_not_allowed"


class NotFound(GatewayError):
    status = 404
    code = "model_not_found"


class MethodNotAllowed(GatewayError):
    status = 405
    code = "method_not_allowed"


class LimitReached(GatewayError):
    """429. `code` is `insufficient_quota` (a token quota) or `rate_limit_exceeded` (requests, concurrency)."""

    status = 429
    code = "rate_limit_exceeded"
    retry_after = 1

    @property
    def is_quota(self) -> bool:
        return self.code == "insufficient_quota"


class Unavailable(GatewayError):
    """503 from the gateway itself (e.g. the quota store is down); clients should retry."""

    status = 503
    code = "unavailable"
    retry_after = 5


class BackendError(GatewayError):
    """The Ollama backend failed; subclasses pick the status clients retry on."""

    status = 502
    code = "backend_error"


class BackendUnavailable(BackendError):
    status = 503
    code = "backend_unavailable"


class BackendBusy(BackendError):
    status = 503
    code = "backend_busy"
    retry_after = 1


class BackendTimeout(BackendError):
    status = 504
    code = "backend_timeout"


class BackendRejected(BackendError):
    """The backend answered with a client error other than 400/404 (its status is kept)."""

    code = "backend_rejected"


class ServerError(GatewayError):
    """500: a bug in the gateway (the details are in the server log, never in the response)."""

    status = 500
    code = "server_error"
