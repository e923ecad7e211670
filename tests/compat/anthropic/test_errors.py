"""compat.anthropic.errors and auth: the gateway's errors in Anthropic's shape, and its credentials."""

import anthropic
import orjson
import pytest

from compat.anthropic.auth import TWO_KEYS, presented_key
from compat.anthropic.errors import error_body, error_headers, status_and_type, stream_error_event
from ollamaweb.core.errors import (
    AuthenticationFailed,
    BackendBusy,
    BackendError,
    BackendRejected,
    BackendTimeout,
    BackendUnavailable,
    InvalidRequest,
    LimitReached,
    MethodNotAllowed,
    NotFound,
    PermissionDenied,
    RequestTooLarge,
    ServerError,
    Unavailable,
)

from .sdk import ARGS, json_client

CASES = [
    (InvalidRequest("bad", param="max_tokens"), 400, "invalid_request_error", anthropic.BadRequestError),
    (AuthenticationFailed("who?"), 401, "authentication_error", anthropic.AuthenticationError),
    (PermissionDenied("not yours"), 403, "permission_error", anthropic.PermissionDeniedError),
    (NotFound("no model"), 404, "not_found_error", anthropic.NotFoundError),
    (MethodNotAllowed("GET"), 405, "invalid_request_error", anthropic.APIStatusError),
    (RequestTooLarge("too big"), 413, "request_too_large", anthropic.ContentTooLargeError),
    (LimitReached("slow down", retry_after=7), 429, "rate_limit_error", anthropic.RateLimitError),
    (ServerError("bug"), 500, "api_error", anthropic.InternalServerError),
    (BackendError("backend 500"), 502, "api_error", anthropic.InternalServerError),
    (BackendUnavailable("down"), 503, "api_error", anthropic.ServiceUnavailableError),
    (Unavailable("quota store down"), 503, "api_error", anthropic.ServiceUnavailableError),
    (BackendTimeout("slow"), 504, "timeout_error", anthropic.GatewayTimeoutError),
    (BackendBusy("server busy"), 529, "overloaded_error", anthropic.OverloadedError),
    (BackendRejected("teapot", status=418), 418, "invalid_request_error", anthropic.APIStatusError),
]


@pytest.mark.parametrize(("error", "status", "kind", "exception"), CASES)
def test_status_and_type(error, status, kind, exception):
    assert status_and_type(error) == (status, kind)
    body = error_body(error)
    assert body["type"] == "error"
    assert body["error"] == {"type": kind, "message": error.message}
    assert body["request_id"].startswith("req_")


@pytest.mark.parametrize(("error", "status", "kind", "exception"), CASES)
def test_the_sdk_raises_its_class(error, status, kind, exception):
    client = json_client(error_body(error), status=status, headers=error_headers(error))
    with pytest.raises(exception) as info:
        client.messages.create(**ARGS)
    assert info.value.status_code == status
    assert info.value.body["error"]["type"] == kind
    assert error.message in str(info.value)


def test_retry_after_and_quota_headers():
    assert error_headers(LimitReached("requests", retry_after=3)) == {"Retry-After": "3"}
    quota = LimitReached("tokens", retry_after=3600, code="insufficient_quota")
    assert error_headers(quota) == {"Retry-After": "3600", "x-should-retry": "false"}
    assert error_headers(BackendBusy("busy", retry_after=2)) == {"Retry-After": "2"}
    assert error_headers(NotFound("x")) == {}


def test_stream_error_event():
    raw = stream_error_event(BackendBusy("server busy"))
    name, data = raw.decode().rstrip("\n").split("\n")
    assert name == "event: error"
    assert orjson.loads(data[len("data: ") :]) == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "server busy"},
    }


# --- credentials ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "key"),
    [
        ({"x-api-key": "sk-one"}, "sk-one"),
        ({"Authorization": "Bearer sk-two"}, "sk-two"),
        ({"Authorization": "bearer  sk-two "}, "sk-two"),
        ({"x-api-key": "sk-same", "Authorization": "Bearer sk-same"}, "sk-same"),
        ({"Authorization": "Basic abc"}, ""),
        ({}, ""),
        ({"x-api-key": "  "}, ""),
    ],
)
def test_presented_key(headers, key):
    assert presented_key(headers) == key


def test_two_different_keys_are_refused():
    with pytest.raises(AuthenticationFailed) as info:
        presented_key({"x-api-key": "sk-one", "Authorization": "Bearer sk-two"})
    assert info.value.message == TWO_KEYS
    assert "sk-one" not in info.value.message
