"""Malformed and misdirected requests get OpenAI-shaped JSON errors (never HTML or a traceback),
with the offending field named in `param`, and each leaves exactly one request-log row."""

import httpx
import openai
import orjson
import pytest

from ollamaweb.usage.models import RequestLog
from tests.conftest import settle_logs

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def http(gateway, api_key):
    with httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {api_key[1]}"}, timeout=20) as http:
        yield http


def inference_requests(fake):
    """Requests that would have made the backend work (health checks and listings aside)."""
    return [request for request in fake.requests if request.path in ("/api/chat", "/api/generate", "/api/embed")]


def assert_json_error(response, status, type_=None, param=None):
    """An OpenAI error body, and nothing that looks like a server error page."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    text = response.text
    for leak in ("<html", "<!DOCTYPE", "Traceback", 'File "', "django", "orjson"):
        assert leak.lower() not in text.lower()
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    if type_ is not None:
        assert error["type"] == type_
    assert error["param"] == param
    return error


def assert_one_log_row_each(gateway, statuses):
    settle_logs(gateway)
    assert sorted(RequestLog.objects.values_list("status", flat=True)) == sorted(statuses)


def test_malformed_json_and_non_object_bodies(http, gateway, fake_ollama):
    bodies = [b'{"model": "llama3", "messages": [', b"", b"not json at all", b"\xff\xfe"]
    for body in bodies:
        response = http.post("/v1/chat/completions", content=body, headers={"Content-Type": "application/json"})
        error = assert_json_error(response, 400, "invalid_request_error")
        assert "JSON" in error["message"]
    for body in (b"[1, 2]", b'"hello"', b"null", b"42"):
        response = http.post("/v1/chat/completions", content=body, headers={"Content-Type": "application/json"})
        error = assert_json_error(response, 400, "invalid_request_error")
        assert "object" in error["message"]
    assert fake_ollama.counts_for("/api/chat") == 0
    assert_one_log_row_each(gateway, [400] * 8)


def test_missing_required_fields(http, gateway, fake_ollama):
    cases = [
        ("/v1/chat/completions", {"messages": MESSAGES}, "model"),
        ("/v1/chat/completions", {"model": "llama3"}, "messages"),
        ("/v1/completions", {"prompt": "hi"}, "model"),
        ("/v1/embeddings", {"input": "hi"}, "model"),
        ("/v1/embeddings", {"model": "all-minilm"}, "input"),
    ]
    for path, body, param in cases:
        error = assert_json_error(http.post(path, json=body), 400, "invalid_request_error", param)
        assert param in error["message"]
    assert inference_requests(fake_ollama) == []
    assert_one_log_row_each(gateway, [400] * len(cases))


def test_wrong_types_name_the_field(http, gateway, fake_ollama):
    cases = [
        ({"temperature": "hot"}, "temperature"),
        ({"messages": "hi"}, "messages"),
        ({"stream": "yes"}, "stream"),
        ({"model": 7}, "model"),
        ({"max_tokens": "many"}, "max_tokens"),
        ({"n": 0}, "n"),
        ({"stop": 5}, "stop"),
        ({"top_p": 7}, "top_p"),
    ]
    for override, param in cases:
        body = {"model": "llama3", "messages": MESSAGES, **override}
        error = assert_json_error(http.post("/v1/chat/completions", json=body), 400, "invalid_request_error", param)
        assert param in error["message"]
    assert fake_ollama.counts_for("/api/chat") == 0
    assert_one_log_row_each(gateway, [400] * len(cases))


def test_openai_client_sees_bad_request_with_param(client, fake_ollama):
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="llama3", messages=MESSAGES, temperature="hot")
    assert raised.value.body["param"] == "temperature"
    assert raised.value.status_code == 400


def test_unknown_route_and_wrong_method(http, gateway, fake_ollama):
    error = assert_json_error(http.get("/v1/nope"), 404)
    assert "/v1/nope" in error["message"]
    assert_json_error(http.post("/v1/nope/deeper", json={}), 404)
    assert_json_error(http.get("/v1"), 404)

    error = assert_json_error(http.get("/v1/chat/completions"), 405)
    assert "GET" in error["message"]
    for path in ("/v1/completions", "/v1/embeddings"):
        assert_json_error(http.put(path, json={}), 405)
    assert_json_error(http.post("/v1/models", json={}), 405)
    assert_json_error(http.delete("/v1/models/llama3"), 405)
    assert inference_requests(fake_ollama) == []
    assert_one_log_row_each(gateway, [404] * 3 + [405] * 5)


def test_unknown_route_without_a_key_is_401_json(gateway, fake_ollama):
    response = httpx.get(gateway.url + "/v1/nope")
    assert_json_error(response, 401, "invalid_request_error")
    assert_one_log_row_each(gateway, [401])


def test_backend_down_is_an_openai_error(http, gateway, fake_ollama, settings):
    """An unreachable Ollama is a 503 JSON error, not a crash."""
    settings.OLLAMA_HOST = "http://127.0.0.1:9"  # the discard port: nothing listens
    error = assert_json_error(http.post("/v1/chat/completions", json={"model": "llama3", "messages": MESSAGES}), 503)
    assert error["type"] == "api_error"
    assert_one_log_row_each(gateway, [503])


def test_too_large_body_is_413_not_a_server_error(http, gateway, fake_ollama, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = {"model": "llama3", "messages": [{"role": "user", "content": "x" * 5000}]}
    error = assert_json_error(http.post("/v1/chat/completions", json=body), 413, "invalid_request_error")
    assert "1,000 bytes" in error["message"]
    assert inference_requests(fake_ollama) == []
    assert_one_log_row_each(gateway, [413])


def test_a_chunked_body_past_the_limit_is_413_too(http, gateway, fake_ollama, settings):
    """Without a Content-Length the size is known only while reading: what lies past the limit
    is read and dropped, and the request is refused all the same."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = orjson.dumps({"model": "llama3", "messages": [{"role": "user", "content": "x" * 50_000}]})
    pieces = (body[i : i + 700] for i in range(0, len(body), 700))  # a generator: sent chunked
    response = http.post("/v1/chat/completions", content=pieces, headers={"Content-Type": "application/json"})
    error = assert_json_error(response, 413, "invalid_request_error")
    assert "1,000 bytes" in error["message"]
    assert inference_requests(fake_ollama) == []
    assert_one_log_row_each(gateway, [413])
