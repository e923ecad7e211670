"""The gateway's errors, in no protocol's shape.

The pipeline, the domain apps and the Ollama client raise these; each protocol in `compat/` turns
them into its own error body (OpenAI, Anthropic or Ollama) with the status given here.
"""

_INHERIT = object()


class GatewayError(Exception):
    """Base class: `status` is the HTTP status, `code` a stable machine-readable reason.

    Errors a client should retry later carry `retry_after` (seconds; sent as `Retry-After`).
    A subclass sets these as class keywords (`class NotFound(GatewayError, status=404, code=...)`);
    one it leaves out is inherited.
    """

    status = 500
    code: str | None = "internal_error"
    retry_after: int | None = None

    def __init_subclass__(cls, *, status=_INHERIT, code=_INHERIT, retry_after=_INHERIT, **kwargs):
        super().__init_subclass__(**kwargs)
        for name, value in (("status", status), ("code", code), ("retry_after", retry_after)):
            if value is not _INHERIT:
                setattr(cls, name, value)

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


class InvalidRequest(GatewayError, status=400, code=None):
    """400: the request cannot be served as sent (name the field in `param`)."""


class RequestTooLarge(InvalidRequest, status=413, code="request_too_large"):
    pass


class AuthenticationFailed(GatewayError, status=401, code="invalid_api_key"):
    pass


class PermissionDenied(GatewayError, status=403, code="model_not_allowed"):
    pass


class NotFound(GatewayError, status=404, code="model_not_found"):
    pass


class MethodNotAllowed(GatewayError, status=405, code="method_not_allowed"):
    pass


class LimitReached(GatewayError, status=429, code="rate_limit_exceeded", retry_after=1):
    """429. `code` is `insufficient_quota` (a token or GPU-time quota) or `rate_limit_exceeded` (requests, concurrency)."""

    @property
    def is_quota(self) -> bool:
        return self.code == "insufficient_quota"


class Unavailable(GatewayError, status=503, code="unavailable", retry_after=5):
    """503 from the gateway itself (e.g. the quota store is down); clients should retry."""


class BackendError(GatewayError, status=502, code="backend_error"):
    """The Ollama backend failed; subclasses pick the status clients retry on."""


class BackendUnavailable(BackendError, status=503, code="backend_unavailable"):
    pass


class BackendBusy(BackendError, status=503, code="backend_busy", retry_after=1):
    pass


class BackendTimeout(BackendError, status=504, code="backend_timeout"):
    pass


class BackendRejected(BackendError, code="backend_rejected"):
    """The backend answered with a client error other than 400/404 (its status is kept)."""


class ServerError(GatewayError, status=500, code="server_error"):
    """500: a bug in the gateway (the details are in the server log, never in the response)."""
