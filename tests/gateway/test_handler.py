"""The lean API handler (ollamaweb/gateway/handler.py)."""

import gc
import tracemalloc

import httpx
import orjson
import pytest

from tests.fake_ollama import Reply

HI = [{"role": "user", "content": "hi"}]


def test_a_request_leaves_no_reference_cycles_behind(gateway, api_key):
    """Served requests are freed by reference counting: cycles (a finished task holding its
    exception, whose traceback holds the request) would leave their objects to the garbage
    collector, whose passes grow with the requests in flight."""
    body = {"model": "llama3", "messages": HI}
    headers = {"Authorization": f"Bearer {api_key[1]}"}
    with httpx.Client(base_url=gateway.url, headers=headers) as client:
        assert client.post("/v1/chat/completions", json=body).status_code == 200  # warm: caches, connections
        gc.collect()
        gc.disable()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            for _ in range(20):
                assert client.post("/v1/chat/completions", json=body).status_code == 200
            gc.collect()
            left = [type(item).__qualname__ for item in gc.garbage]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()
    assert "ASGIRequest" not in left and "Task" not in left, sorted(set(left))


PROMPT_CHARS = 1_000_000
STREAMS = {
    "OpenAI chat": ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x" * PROMPT_CHARS}]}),
    "native chat": ("/api/chat", {"messages": [{"role": "user", "content": "x" * PROMPT_CHARS}]}),
    "Anthropic": ("/v1/messages", {"max_tokens": 64, "messages": [{"role": "user", "content": "x" * PROMPT_CHARS}]}),
    "Responses": ("/v1/responses", {"input": "x" * PROMPT_CHARS, "store": False}),
}


@pytest.mark.parametrize("protocol", STREAMS)
def test_an_open_stream_holds_nothing_of_its_request(gateway, fake_ollama, api_key, protocol):
    """A stream may stay open for minutes, and coding agents send prompts of 100 KB and more:
    once the stream has started, neither the request (its body), the parsed body nor the
    payload sent to the backend is kept (1,000 such streams with a 20 KB prompt held 74 KB
    each, bench/README.md)."""
    fake_ollama.reply = Reply(content="one two three four five six", token_delay=0.2)
    path, body = STREAMS[protocol]
    content = orjson.dumps({"model": "llama3", "stream": True, **body})  # made before tracing starts
    headers = {"Authorization": f"Bearer {api_key[1]}", "Content-Type": "application/json"}
    with httpx.Client(base_url=gateway.url, headers=headers, timeout=20) as client:
        tracemalloc.start(25)
        try:
            with client.stream("POST", path, content=content) as response:
                assert response.status_code == 200
                lines = response.iter_lines()
                assert next(lines)  # the stream has started
                snapshot = tracemalloc.take_snapshot()
                assert len(list(lines)) > 3  # and went on after the snapshot
        finally:
            tracemalloc.stop()
    held = [
        trace
        for trace in snapshot.traces
        if trace.size >= PROMPT_CHARS // 2 and not any("fake_ollama" in frame.filename for frame in trace.traceback)
    ]
    assert held == [], [f"{trace.size:,} bytes from {trace.traceback[-1]}" for trace in held]
