"""Backend failures end to end: each becomes the right OpenAI error (status, code, message) and one log row."""

import json
import socket
import threading

import httpx
import openai
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from ollamaweb.core import ollama
from ollamaweb.core.ollama import close_http_client
from tests.conftest import only_log
from tests.fake_ollama import BUSY_MESSAGE, Reply

HELLO = [{"role": "user", "content": "Say hello"}]
TIMEOUT_MESSAGE = "The model backend did not answer in time."
CLOSED_MESSAGE = "The model backend closed the connection unexpectedly."


@pytest.fixture
def user(transactional_db):
    """alice without a password (hashing one costs ~0.3 s a test; these tests only use API keys)."""
    return get_user_model().objects.create_user("alice")


@pytest.fixture
def short_read_timeout(gateway):
    """OLLAMA_READ_TIMEOUT=0.3 s; the gateway's pooled client is dropped so the next one uses it."""
    saved = settings.OLLAMA_READ_TIMEOUT
    settings.OLLAMA_READ_TIMEOUT = 0.3
    gateway.call(close_http_client())
    yield
    settings.OLLAMA_READ_TIMEOUT = saved
    gateway.call(close_http_client())


@pytest.fixture
def unreachable_backend(gateway):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    saved = settings.OLLAMA_HOST
    settings.OLLAMA_HOST = f"http://127.0.0.1:{port}"
    yield
    settings.OLLAMA_HOST = saved


class RawBackend:
    """A backend that answers every request with `answer`, bytes as they are."""

    def __init__(self):
        self.answer = b""
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def answer_ndjson(self, *lines: bytes):
        body = b"".join(b"%x\r\n%s\n\r\n" % (len(line) + 1, line) for line in lines) + b"0\r\n\r\n"
        self.answer = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: close\r\n\r\n" + body
        )

    def _serve(self):
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:  # closed: the test is over
                return
            with connection:
                connection.recv(65536)
                connection.sendall(self.answer)

    def close(self):
        self._server.close()


@pytest.fixture
def raw_backend(gateway):
    backend = RawBackend()
    saved = settings.OLLAMA_HOST
    settings.OLLAMA_HOST = backend.url
    yield backend
    settings.OLLAMA_HOST = saved
    backend.close()


def create(client, stream, model="llama3"):
    """A chat request; a stream is consumed, so errors raised while iterating surface here too."""
    result = client.chat.completions.create(model=model, messages=HELLO, stream=stream)
    return list(result) if stream else result


# Failures before any output: (fake setup, model, expected status, openai error class, code, message by stream).
BEFORE_OUTPUT = {
    "unknown-model": (
        None,
        "nope",
        404,
        openai.NotFoundError,
        "model_not_found",
        "The model 'nope' does not exist or is not available.",
    ),
    "backend-500": (
        Reply(status=500, error="CUDA error: out of memory"),
        "llama3",
        502,
        openai.InternalServerError,
        "backend_error",
        "Ollama backend error (500): CUDA error: out of memory",
    ),
    "backend-404": (
        Reply(status=404, error="model 'llama3' not found"),
        "llama3",
        404,
        openai.NotFoundError,
        "model_not_found",
        "The model 'llama3' does not exist or is not available.",
    ),
    # A backend URL that points at something other than Ollama (a proxy's redirect to https, say):
    # no status but 200 is an answer, and the client gets the gateway's 502, not the backend's 301.
    "backend-redirect": (
        Reply(status=301, error="Moved Permanently"),
        "llama3",
        502,
        openai.InternalServerError,
        "backend_error",
        "Ollama backend error (301): Moved Permanently",
    ),
    "backend-204": (
        Reply(status=204, error=""),
        "llama3",
        502,
        openai.InternalServerError,
        "backend_error",
        "Ollama backend error (204): empty response",
    ),
    "error-line-first": (
        Reply(error_after=0, error="runner failed to load"),
        "llama3",
        502,
        openai.InternalServerError,
        "backend_error",
        {
            False: "Ollama backend error: runner failed to load",
            True: "Ollama backend error: runner failed to load",
        },
    ),
    "dropped-before-output": (
        Reply(disconnect_after=0),
        "llama3",
        502,
        openai.InternalServerError,
        "backend_error",
        CLOSED_MESSAGE,
    ),
}


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("case", list(BEFORE_OUTPUT))
def test_failure_before_output_gets_its_http_status(client, gateway, fake_ollama, case, stream):
    reply, model, status, error_class, code, message = BEFORE_OUTPUT[case]
    if isinstance(message, dict):
        message = message[stream]
    if reply is not None:
        fake_ollama.reply = reply

    with pytest.raises(error_class) as error:
        create(client, stream, model)

    assert error.value.status_code == status
    assert error.value.response.headers["content-type"] == "application/json"
    assert error.value.body["code"] == code
    assert error.value.body["message"] == message
    assert error.value.body["type"] == ("invalid_request_error" if status == 404 else "api_error")
    log = only_log(gateway)
    assert (log.status, log.error, log.stream, log.requested_model) == (status, message, stream, model)
    assert (log.prompt_tokens, log.completion_tokens, log.usage_source) == (0, 0, "none")


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_busy_backend_is_503_with_retry_after(client, gateway, fake_ollama, stream):
    fake_ollama.busy = True

    with pytest.raises(openai.InternalServerError) as error:
        create(client, stream)

    assert error.value.status_code == 503
    assert error.value.response.headers["retry-after"] == "1"
    assert error.value.body["code"] == "backend_busy"
    assert error.value.body["message"] == BUSY_MESSAGE
    assert fake_ollama.counts_for("/api/chat") == 1
    log = only_log(gateway)
    assert (log.status, log.error, log.stream) == (503, BUSY_MESSAGE, stream)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_unreachable_backend_is_an_http_503(client, gateway, unreachable_backend, stream):
    with pytest.raises(openai.APIStatusError) as error:
        create(client, stream)

    assert not isinstance(error.value, openai.APIConnectionError)
    assert error.value.status_code == 503
    assert error.value.response.headers["content-type"] == "application/json"
    assert error.value.body["code"] == "backend_unavailable"
    assert error.value.body["message"] == "The model backend is unreachable; try again later."
    log = only_log(gateway)
    assert (log.status, log.error, log.stream) == (503, "The model backend is unreachable; try again later.", stream)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_backend_that_does_not_speak_http_is_a_502_that_says_so(client, gateway, raw_backend, stream):
    raw_backend.answer = b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nhello"
    message = "The model backend sent an invalid HTTP response."
    with pytest.raises(openai.InternalServerError) as error:
        create(client, stream)

    assert error.value.status_code == 502
    assert (error.value.body["code"], error.value.body["message"]) == ("backend_error", message)
    log = only_log(gateway)
    assert (log.status, log.error, log.stream) == (502, message, stream)


# Lines of JSON that are not of Ollama's shape where the gateway reads them.
TOKEN = b'{"model":"llama3","message":{"role":"assistant","content":"one"},"done":false}'
MISSHAPEN = {
    "array": b"[1, 2]",
    "string": b'"hello"',
    "null": b"null",
    "message-a-string": b'{"model":"llama3","message":"hi","done":false}',
    "content-a-number": b'{"model":"llama3","message":{"role":"assistant","content":5},"done":false}',
    "tool-call-a-number": b'{"model":"llama3","message":{"role":"assistant","content":"","tool_calls":[5]},"done":true}',
    "negative-count": b'{"model":"llama3","message":{"role":"assistant","content":"a"},"done":true,"eval_count":-9000}',
    "count-beyond-64-bits": b'{"model":"llama3","message":{"role":"assistant","content":"a"},"done":true,'
    b'"eval_count":18446744073709551615}',
    "count-a-string": b'{"model":"llama3","message":{"role":"assistant","content":"a"},"done":true,"eval_count":"x"}',
    "done-reason-a-number": b'{"model":"llama3","message":{"role":"assistant","content":"a"},"done":true,"done_reason":5}',
}
# Each protocol's route and request, and where its error body says what went wrong.
PROTOCOL_ROUTES = {
    "openai": ("/v1/chat/completions", {"messages": HELLO}, lambda body: body["error"]["message"]),
    "native": ("/api/chat", {"messages": HELLO, "stream": False}, lambda body: body["error"]),
    "responses": ("/v1/responses", {"input": "Say hello"}, lambda body: body["error"]["message"]),
    "anthropic": ("/v1/messages", {"max_tokens": 16, "messages": HELLO}, lambda body: body["error"]["message"]),
}
INVALID_LINE = "The model backend sent an invalid stream line."


@pytest.mark.parametrize("protocol", list(PROTOCOL_ROUTES))
@pytest.mark.parametrize("line", list(MISSHAPEN))
def test_a_line_not_of_ollama_s_shape_is_a_502_in_each_protocol(gateway, api_key, raw_backend, protocol, line):
    """Before: a 500 from the translation that read it; a negative count was answered as a 200
    charged nothing; a count beyond 64 bits was answered and its row set aside, unwritable."""
    raw_backend.answer_ndjson(MISSHAPEN[line])
    path, body, message_of = PROTOCOL_ROUTES[protocol]
    headers = {"authorization": f"Bearer {api_key[1]}", "x-api-key": api_key[1], "anthropic-version": "2023-06-01"}

    response = httpx.post(gateway.url + path, json={"model": "llama3", **body}, headers=headers, timeout=10)

    assert response.status_code == 502, response.text
    assert message_of(response.json()) == INVALID_LINE
    log = only_log(gateway)
    assert (log.status, log.error, log.completion_tokens) == (502, INVALID_LINE, 0)


def test_a_misshapen_line_after_the_first_tokens_ends_the_stream_with_an_error(client, gateway, raw_backend):
    raw_backend.answer_ndjson(TOKEN, MISSHAPEN["negative-count"])
    received = []

    stream = client.chat.completions.create(model="llama3", messages=HELLO, stream=True)
    with pytest.raises(openai.APIError) as error:
        for chunk in stream:
            received.append(chunk)

    assert error.value.message == INVALID_LINE
    assert [chunk.choices[0].delta.content for chunk in received] == ["one"]
    log = only_log(gateway)
    assert (log.status, log.error, log.completion_tokens, log.usage_source) == (502, INVALID_LINE, 1, "counted")


def test_a_stream_line_longer_than_the_limit_is_a_502(client, gateway, raw_backend, monkeypatch):
    """A backend URL that points at something that streams without line ends: the gateway stops
    reading at the limit instead of keeping it all."""
    monkeypatch.setattr(ollama, "MAX_STREAM_LINE", 1000)
    line = b"x" * 5000
    raw_backend.answer = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"%x\r\n%s\r\n" % (len(line), line)
    )

    with pytest.raises(openai.InternalServerError) as error:
        create(client, stream=False)

    assert error.value.body["message"] == ollama.LONG_LINE
    assert only_log(gateway).status == 502


def _json_answer(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


INVALID_ANSWER = "The model backend sent an invalid response."
MISSHAPEN_EMBEDDINGS = {
    "array": b"[[0.1]]",
    "null": b"null",
    "vectors-a-string": b'{"embeddings":"x"}',
    "flat-vector": b'{"embeddings":[0.1,0.2]}',
    "words-for-numbers": b'{"embeddings":[["a"]]}',
    "negative-count": b'{"embeddings":[[0.1]],"prompt_eval_count":-5}',
}
EMBED_ROUTES = {
    "/v1/embeddings": ({"model": "all-minilm", "input": ["hi"]}, lambda body: body["error"]["message"]),
    "/api/embed": ({"model": "all-minilm", "input": "hi"}, lambda body: body["error"]),
    "/api/embeddings": ({"model": "all-minilm", "prompt": "hi"}, lambda body: body["error"]),
}


@pytest.mark.parametrize("path", list(EMBED_ROUTES))
@pytest.mark.parametrize("answer", list(MISSHAPEN_EMBEDDINGS))
def test_an_embedding_answer_not_of_ollama_s_shape_is_a_502(gateway, api_key, raw_backend, path, answer):
    """Before: a 500 (an array, a flat vector); vectors of words passed on; a negative count passed
    on as the client's usage (-5 prompt tokens) and charged nothing."""
    raw_backend.answer = _json_answer(MISSHAPEN_EMBEDDINGS[answer])
    body, message_of = EMBED_ROUTES[path]

    response = httpx.post(gateway.url + path, json=body, headers={"authorization": f"Bearer {api_key[1]}"}, timeout=10)

    assert response.status_code == 502, response.text
    assert message_of(response.json()) == INVALID_ANSWER
    log = only_log(gateway)
    assert (log.status, log.error, log.prompt_tokens) == (502, INVALID_ANSWER, 0)


MISSHAPEN_LISTINGS = {
    "models-a-string": b'{"models":"x"}',
    "a-listing-a-number": b'{"models":[5]}',
    "a-size-a-word": b'{"models":[{"name":"llama3:latest","model":"llama3:latest","size":"big","modified_at":5}]}',
}


@pytest.mark.parametrize("path", ["/api/tags", "/v1/models"])
@pytest.mark.parametrize("answer", list(MISSHAPEN_LISTINGS))
def test_a_model_list_not_of_ollama_s_shape_is_a_502(gateway, api_key, raw_backend, path, answer):
    """Before: a 500 from the catalog that read it."""
    raw_backend.answer = _json_answer(MISSHAPEN_LISTINGS[answer])

    response = httpx.get(gateway.url + path, headers={"authorization": f"Bearer {api_key[1]}"}, timeout=10)

    assert response.status_code == 502, response.text
    body = response.json()
    assert (body["error"] if path == "/api/tags" else body["error"]["message"]) == INVALID_ANSWER


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_backend_hanging_before_headers_is_504(client, gateway, fake_ollama, short_read_timeout, stream):
    fake_ollama.reply = Reply(hang_after=0)

    with pytest.raises(openai.APIStatusError) as error:
        create(client, stream)

    assert error.value.status_code == 504
    assert error.value.body["code"] == "backend_timeout"
    assert error.value.body["message"] == TIMEOUT_MESSAGE
    fake_ollama.wait_for(lambda: fake_ollama.cancelled == 1, timeout=1.0)
    log = only_log(gateway)
    assert (log.status, log.error, log.stream) == (504, TIMEOUT_MESSAGE, stream)
    assert 300 <= log.latency_ms < 2000


# Failures after the first chunks: (reply, message of the error event).
MID_STREAM = {
    "error-line": (Reply(content="one two three four", error_after=2, error="runner crashed"), None),
    "dropped-connection": (Reply(content="one two three four", disconnect_after=2), CLOSED_MESSAGE),
    "read-timeout": (Reply(content="one two three four", hang_after=2), TIMEOUT_MESSAGE),
}
MID_STREAM_STATUS = {"error-line": 502, "dropped-connection": 502, "read-timeout": 504}


@pytest.mark.parametrize("case", list(MID_STREAM))
def test_mid_stream_failure_raises_while_iterating(client, gateway, fake_ollama, request, case):
    reply, message = MID_STREAM[case]
    message = message or "Ollama backend error: runner crashed"
    if case == "read-timeout":
        request.getfixturevalue("short_read_timeout")
    fake_ollama.reply = reply
    received = []

    stream = client.chat.completions.create(model="llama3", messages=HELLO, stream=True)
    with pytest.raises(openai.APIError) as error:
        for chunk in stream:
            received.append(chunk)

    assert type(error.value) is openai.APIError
    assert error.value.message == message
    assert error.value.body["message"] == message
    assert error.value.body["type"] == "api_error"
    assert [chunk.choices[0].delta.content for chunk in received] == ["one", " two"]
    assert all(chunk.choices[0].finish_reason is None for chunk in received)
    log = only_log(gateway)
    assert (log.status, log.error, log.stream) == (MID_STREAM_STATUS[case], message, True)
    assert (log.completion_tokens, log.usage_source) == (2, "counted")
    assert log.ttft_ms is not None and log.ttft_ms <= log.latency_ms


@pytest.mark.parametrize("case", ["error-line", "dropped-connection"])
def test_mid_stream_failure_ends_the_raw_stream_with_an_error_event(gateway, api_key, fake_ollama, case):
    reply, message = MID_STREAM[case]
    message = message or "Ollama backend error: runner crashed"
    fake_ollama.reply = reply
    body = {"model": "llama3", "messages": HELLO, "stream": True, "stream_options": {"include_usage": True}}

    with httpx.Client(base_url=gateway.url, timeout=20) as http:
        with http.stream(
            "POST", "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {api_key[1]}"}
        ) as response:
            raw = response.read()

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert b"[DONE]" not in raw
    blocks = raw.split(b"\n\n")
    assert blocks[-1] == b""
    events = [json.loads(block.removeprefix(b"data: ")) for block in blocks[:-1]]
    assert all(block.startswith(b"data: ") for block in blocks[:-1])
    assert [event["choices"][0]["delta"].get("content") for event in events[:-1]] == ["one", " two"]
    assert events[-1] == {"error": {"message": message, "type": "api_error", "param": None, "code": "backend_error"}}
    log = only_log(gateway)
    assert (log.status, log.error) == (502, message)


def test_non_streaming_generation_error_is_502_with_the_backend_message(client, gateway, fake_ollama):
    fake_ollama.reply = Reply(content="one two three", error_after=2, error="llama runner process has terminated")

    with pytest.raises(openai.InternalServerError) as error:
        create(client, False)

    message = "Ollama backend error: llama runner process has terminated"
    assert (error.value.status_code, error.value.body["message"]) == (502, message)
    log = only_log(gateway)
    assert (log.status, log.error, log.completion_tokens) == (502, message, 0)
