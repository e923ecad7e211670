"""The gateway's errors in Anthropic's shape (pure): `{"type": "error", "error": {"type", "message"}}`.

Statuses and types follow Anthropic's errors page and anthropic-python's error classes:
400 invalid_request_error, 401 authentication_error, 403 permission_error, 404 not_found_error,
413 request_too_large, 429 rate_limit_error (with `retry-after`), 500/502/503 api_error,
504 timeout_error, and a busy backend as 529 overloaded_error (the SDK's OverloadedError, which
Claude Code retries with its "overloaded" backoff).
"""

import orjson

from ollamaweb.core.errors import BackendBusy, GatewayError, LimitReached

from .translate import new_id

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
OVERLOADED = 529


def status_and_type(error: GatewayError) -> tuple[int, str]:
    if isinstance(error, BackendBusy):
        return OVERLOADED, "overloaded_error"
    status = error.status
    if status in ERROR_TYPES:
        return status, ERROR_TYPES[status]
    return status, "invalid_request_error" if 400 <= status < 500 else "api_error"


def error_body(error: GatewayError, request_id: str | None = None) -> dict:
    _, kind = status_and_type(error)
    return {
        "type": "error",
        "error": {"type": kind, "message": error.message},
        "request_id": request_id or new_id("req_"),
    }


def error_headers(error: GatewayError) -> dict[str, str]:
    """The error's own headers (Retry-After…); an exhausted token quota is not worth retrying."""
    headers = dict(error.headers)
    if isinstance(error, LimitReached) and error.is_quota:
        headers["x-should-retry"] = "false"
    return headers


def stream_error_event(error: GatewayError) -> bytes:
    """The `event: error` Anthropic sends when a stream fails after its 200 (the SDK raises it)."""
    _, kind = status_and_type(error)
    payload = {"type": "error", "error": {"type": kind, "message": error.message}}
    return b"event: error\ndata: " + orjson.dumps(payload) + b"\n\n"
