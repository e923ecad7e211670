"""Streaming (`stream: true`) end to end: the openai client and raw SSE bytes → real ASGI server → fake Ollama."""

import json

import httpx
import pytest
from django.contrib.auth import get_user_model

from tests.api.weather import weather_function
from tests.conftest import assert_logged
from tests.fake_ollama import Reply

HELLO = [{"role": "user", "content": "Say hello"}]
TOOLS = [weather_function()]


@pytest.fixture
def user(transactional_db):
    """alice without a password (hashing one costs ~0.3 s a test; these tests only use API keys)."""
    return get_user_model().objects.create_user("alice")


def last_native(fake, path="/api/chat"):
    return [r for r in fake.requests if r.path == path][-1].json


def raw_stream(gateway, secret, body, path="/v1/chat/completions"):
    """POST with httpx and return (response, raw body bytes, decoded events); events are the JSON payloads
    (or the string "[DONE]"), after checking that every event is exactly `data: <payload>\\n\\n`."""
    with httpx.Client(base_url=gateway.url, timeout=20) as http:
        with http.stream("POST", path, json=body, headers={"Authorization": f"Bearer {secret}"}) as response:
            raw = response.read()
    assert raw.endswith(b"\n\n")
    events = []
    for block in raw[:-2].split(b"\n\n"):
        assert block.startswith(b"data: ") and b"\n" not in block, block
        payload = block[len(b"data: ") :]
        events.append("[DONE]" if payload == b"[DONE]" else json.loads(payload))
    return response, raw, events


def content_of(chunks, index=0):
    return "".join(choice.delta.content or "" for chunk in chunks for choice in chunk.choices if choice.index == index)


def test_stream_reassembles_the_reply_token_by_token(client, fake_ollama):
    reply = Reply(content="Hello there, friend! How are you today?", prompt_eval_count=12, eval_count=9)
    fake_ollama.reply = reply

    chunks = list(client.chat.completions.create(model="llama3", messages=HELLO, stream=True))

    content_chunks, finish = chunks[:-1], chunks[-1]
    assert [chunk.choices[0].delta.content for chunk in content_chunks] == reply.content_tokens()
    assert content_of(chunks) == "Hello there, friend! How are you today?"
    assert [chunk.choices[0].delta.role for chunk in chunks] == ["assistant"] + [None] * (len(chunks) - 1)
    assert len({chunk.id for chunk in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")
    assert len({chunk.created for chunk in chunks}) == 1
    assert {chunk.object for chunk in chunks} == {"chat.completion.chunk"}
    assert {chunk.model for chunk in chunks} == {"llama3"}
    assert all(chunk.choices[0].finish_reason is None for chunk in content_chunks)
    assert finish.choices[0].finish_reason == "stop"
    assert finish.choices[0].delta.model_dump(exclude_none=True) == {}
    assert all(chunk.usage is None for chunk in chunks)
    assert last_native(fake_ollama)["stream"] is True


def test_include_usage_adds_a_usage_chunk_with_the_backend_counts(client, fake_ollama):
    fake_ollama.reply = Reply(content="Fine, thanks.", prompt_eval_count=31, eval_count=17)

    chunks = list(
        client.chat.completions.create(
            model="llama3", messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
    )

    *body, finish, usage = chunks
    assert content_of(body) == "Fine, thanks."
    assert finish.choices[0].finish_reason == "stop" and finish.usage is None
    assert usage.choices == []
    assert (usage.usage.prompt_tokens, usage.usage.completion_tokens, usage.usage.total_tokens) == (31, 17, 48)
    assert usage.id == chunks[0].id and usage.created == chunks[0].created
    assert all(chunk.usage is None for chunk in chunks[:-1])


def test_raw_sse_wire_format(gateway, api_key, fake_ollama):
    fake_ollama.reply = Reply(content="Hi you", prompt_eval_count=5, eval_count=2)
    body = {"model": "llama3", "messages": HELLO, "stream": True, "stream_options": {"include_usage": True}}

    response, raw, events = raw_stream(gateway, api_key[1], body)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert raw.endswith(b"data: [DONE]\n\n") and raw.count(b"[DONE]") == 1
    assert b"event:" not in raw and not raw.startswith(b":")
    *chunks, done = events
    assert done == "[DONE]"
    assert [chunk["choices"][0]["delta"] for chunk in chunks[:2]] == [
        {"role": "assistant", "content": "Hi"},
        {"content": " you"},
    ]
    assert chunks[2]["choices"] == [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]
    assert chunks[3]["choices"] == []
    assert chunks[3]["usage"] == {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    assert all("usage" not in chunk for chunk in chunks[:3])
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert len({(chunk["id"], chunk["created"]) for chunk in chunks}) == 1


def test_raw_stream_without_include_usage_has_no_usage_chunk(gateway, api_key, fake_ollama):
    fake_ollama.reply = Reply(content="Hi")
    _, raw, events = raw_stream(gateway, api_key[1], {"model": "llama3", "messages": HELLO, "stream": True})

    assert raw.endswith(b"data: [DONE]\n\n")
    *chunks, done = events
    assert done == "[DONE]"
    assert [chunk["choices"][0]["finish_reason"] for chunk in chunks] == [None, "stop"]
    assert all("usage" not in chunk and chunk["choices"] for chunk in chunks)


def test_max_tokens_ends_with_length(client, fake_ollama):
    fake_ollama.reply = Reply(content="one two three four five six")

    chunks = list(client.chat.completions.create(model="llama3", messages=HELLO, stream=True, max_tokens=2))

    assert content_of(chunks) == "one two"
    assert chunks[-1].choices[0].finish_reason == "length"
    assert last_native(fake_ollama)["options"] == {"num_predict": 2}


def test_streamed_tool_calls_arrive_whole_with_index_id_name_and_arguments(client, fake_ollama):
    fake_ollama.reply = Reply(
        content="Checking.",
        tool_calls=[
            {"name": "get_weather", "arguments": {"city": "Paris"}},
            {"name": "get_weather", "arguments": {"city": "Lyon", "unit": "C"}},
        ],
    )

    chunks = list(
        client.chat.completions.create(
            model="llama3", messages=[{"role": "user", "content": "Weather?"}], tools=TOOLS, stream=True
        )
    )

    assert content_of(chunks) == "Checking."
    calls = [call for chunk in chunks for call in chunk.choices[0].delta.tool_calls or ()]
    assert [call.index for call in calls] == [0, 1]
    assert all(call.id and call.id.startswith("call_") for call in calls) and calls[0].id != calls[1].id
    assert {call.type for call in calls} == {"function"}
    assert [call.function.name for call in calls] == ["get_weather", "get_weather"]
    assert [json.loads(call.function.arguments) for call in calls] == [{"city": "Paris"}, {"city": "Lyon", "unit": "C"}]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert chunks[-1].choices[0].delta.tool_calls is None


def test_tool_call_only_stream_opens_with_the_role(client, fake_ollama):
    fake_ollama.reply = Reply(content="", tool_calls=[{"name": "get_weather", "arguments": {"city": "Oslo"}}])

    chunks = list(
        client.chat.completions.create(
            model="llama3", messages=[{"role": "user", "content": "Weather?"}], tools=TOOLS, stream=True
        )
    )

    assert len(chunks) == 2
    delta = chunks[0].choices[0].delta
    assert delta.role == "assistant" and delta.content == ""
    assert [(c.index, c.function.name, c.function.arguments) for c in delta.tool_calls] == [
        (0, "get_weather", '{"city":"Oslo"}')
    ]
    assert chunks[1].choices[0].finish_reason == "tool_calls"


def test_n_2_streams_both_choices_with_their_own_finish(client, fake_ollama):
    fake_ollama.reply = Reply(content="Same words here", token_delay=0.005, prompt_eval_count=6, eval_count=3)

    chunks = list(
        client.chat.completions.create(
            model="llama3", messages=HELLO, stream=True, n=2, stream_options={"include_usage": True}
        )
    )

    assert fake_ollama.counts_for("/api/chat") == 2
    for index in (0, 1):
        mine = [chunk.choices[0] for chunk in chunks if chunk.choices and chunk.choices[0].index == index]
        assert content_of(chunks, index) == "Same words here"
        assert [choice.delta.role for choice in mine].count("assistant") == 1 and mine[0].delta.role == "assistant"
        assert [choice.finish_reason for choice in mine] == [None] * (len(mine) - 1) + ["stop"]
    assert all(len(chunk.choices) == 1 for chunk in chunks[:-1])
    assert chunks[-1].choices == []
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (12, 6)
    assert len({chunk.id for chunk in chunks}) == 1


def test_logprobs_in_stream_chunks(client, fake_ollama):
    fake_ollama.reply = Reply(content="Bonjour mon ami")

    chunks = list(
        client.chat.completions.create(model="llama3", messages=HELLO, stream=True, logprobs=True, top_logprobs=2)
    )

    *content_chunks, finish = chunks
    for chunk in content_chunks:
        choice = chunk.choices[0]
        [entry] = choice.logprobs.content
        assert entry.token == choice.delta.content
        assert entry.bytes == list(entry.token.encode())
        assert entry.logprob < 0
        assert [top.token for top in entry.top_logprobs] == [entry.token, "alt1"]
    assert content_of(chunks) == "Bonjour mon ami"
    assert finish.choices[0].logprobs is None
    native = last_native(fake_ollama)
    assert (native["logprobs"], native["top_logprobs"]) == (True, 2)


def test_reasoning_deltas_come_before_the_content(client, fake_ollama):
    fake_ollama.add_model("qwen3", capabilities=["completion", "thinking"])
    fake_ollama.reply = Reply(thinking="Six times seven.", content="42")

    chunks = list(
        client.chat.completions.create(
            model="qwen3", messages=[{"role": "user", "content": "6*7?"}], stream=True, reasoning_effort="low"
        )
    )

    deltas = [chunk.choices[0].delta for chunk in chunks[:-1]]
    reasoning = [getattr(delta, "reasoning", None) for delta in deltas]
    assert "".join(piece or "" for piece in reasoning) == "Six times seven."
    assert content_of(chunks) == "42"
    first_content = next(i for i, delta in enumerate(deltas) if delta.content)
    assert all(piece is None for piece in reasoning[first_content:])
    assert all(piece for piece in reasoning[:first_content])
    assert deltas[0].role == "assistant"
    assert last_native(fake_ollama, "/api/chat")["think"] == "low"
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_legacy_completions_stream_with_echo_and_usage(client, fake_ollama):
    fake_ollama.reply = Reply(content="Once upon a time", prompt_eval_count=9, eval_count=4)

    chunks = list(
        client.completions.create(
            model="llama3",
            prompt="Tell a story:",
            stream=True,
            echo=True,
            stream_options={"include_usage": True},
        )
    )

    *body, finish, usage = chunks
    assert {chunk.object for chunk in chunks} == {"text_completion"}
    assert len({chunk.id for chunk in chunks}) == 1 and chunks[0].id.startswith("cmpl-")
    assert len({chunk.created for chunk in chunks}) == 1
    assert [chunk.choices[0].text for chunk in body] == ["Tell a story:Once", " upon", " a", " time"]
    assert all(chunk.choices[0].finish_reason is None for chunk in body)
    assert (finish.choices[0].text, finish.choices[0].finish_reason) == ("", "stop")
    assert usage.choices == []
    assert (usage.usage.prompt_tokens, usage.usage.completion_tokens, usage.usage.total_tokens) == (9, 4, 13)
    native = last_native(fake_ollama, "/api/generate")
    assert (native["prompt"], native["stream"]) == ("Tell a story:", True)


def test_legacy_completions_raw_stream_without_usage(gateway, api_key, fake_ollama):
    fake_ollama.reply = Reply(content="abc def")
    body = {"model": "llama3", "prompt": "x", "stream": True, "max_tokens": 1}

    response, raw, events = raw_stream(gateway, api_key[1], body, path="/v1/completions")

    assert response.headers["content-type"].startswith("text/event-stream")
    assert raw.endswith(b"data: [DONE]\n\n")
    *chunks, done = events
    assert done == "[DONE]"
    assert [(c["choices"][0]["text"], c["choices"][0]["finish_reason"]) for c in chunks] == [
        ("abc", None),
        ("", "length"),
    ]
    assert all("usage" not in chunk for chunk in chunks)


@pytest.mark.parametrize("include_usage", [True, False])
def test_stream_log_row_has_exact_tokens_and_ttft(client, gateway, fake_ollama, include_usage):
    fake_ollama.reply = Reply(
        content="a b c d", first_token_delay=0.1, token_delay=0.02, prompt_eval_count=21, eval_count=4
    )
    extra = {"stream_options": {"include_usage": True}} if include_usage else {}

    chunks = list(client.chat.completions.create(model="llama3", messages=HELLO, stream=True, **extra))

    assert content_of(chunks) == "a b c d"
    log = assert_logged(
        gateway, endpoint="chat.completions", requested_model="llama3", status=200, error="", stream=True
    )
    assert (log.prompt_tokens, log.completion_tokens, log.usage_source) == (21, 4, "measured")
    assert log.ttft_ms is not None and 100 <= log.ttft_ms <= log.latency_ms
    assert log.latency_ms >= log.ttft_ms + 3 * 20 * 0.9


def test_legacy_completion_stream_with_no_text_still_finishes_and_is_logged(client, gateway, fake_ollama):
    fake_ollama.reply = Reply(content="", prompt_eval_count=3, eval_count=0)

    chunks = list(client.completions.create(model="llama3", prompt="x", stream=True))

    assert [(chunk.choices[0].text, chunk.choices[0].finish_reason) for chunk in chunks] == [("", "stop")]
    assert_logged(gateway, endpoint="completions", status=200, stream=True, prompt_tokens=3, completion_tokens=0)
