"""compat.anthropic.translate.MessagesStream: native NDJSON chunks → Anthropic SSE, read by the real SDK."""

import anthropic
import orjson
import pytest

from compat.anthropic.errors import stream_error_event
from compat.anthropic.translate import MessagesStream
from ollamaweb.core.errors import BackendBusy, BackendError
from tests.compat.native import native_chat

from .sdk import ARGS, sse_client


def chunk(content="", thinking="", tool_calls=None) -> dict:
    return native_chat(content, thinking, tool_calls, model="qwen3", created_at="2026-12-03T12:00:00Z")


def final(done_reason="stop", prompt=20, completion=9) -> dict:
    return native_chat(done_reason=done_reason, prompt=prompt, completion=completion, model="qwen3")


def call(name, arguments) -> dict:
    return {"id": "call_1", "function": {"index": 0, "name": name, "arguments": arguments}}


def run(chunks, prompt=20, completion=9, **kwargs) -> bytes:
    stream = MessagesStream("claude-sonnet-4-6", **kwargs)
    out = b"".join(stream.feed(0, c) for c in chunks)
    return out + stream.end(prompt, completion)


def events(raw: bytes) -> list[tuple[str, dict]]:
    """(event name, data) pairs; also checks that every data's `type` matches its event line."""
    parsed = []
    for frame in raw.decode().split("\n\n"):
        if not frame:
            continue
        name_line, data_line = frame.split("\n")
        assert name_line.startswith("event: ") and data_line.startswith("data: ")
        name, data = name_line[len("event: ") :], orjson.loads(data_line[len("data: ") :])
        assert data["type"] == name
        parsed.append((name, data))
    assert raw.endswith(b"\n\n")
    return parsed


def names(raw: bytes) -> list[str]:
    return [name for name, _ in events(raw)]


def test_text_stream_sequence():
    raw = run([chunk("Hel"), chunk("lo"), chunk("!"), final()], input_estimate=5)
    assert names(raw) == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    parsed = events(raw)
    start = parsed[0][1]["message"]
    assert start["id"].startswith("msg_") and start["model"] == "claude-sonnet-4-6"
    assert start["content"] == [] and start["stop_reason"] is None and start["stop_sequence"] is None
    assert start["usage"]["input_tokens"] == 5 and start["usage"]["output_tokens"] == 0
    assert parsed[1][1] == {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    assert parsed[3][1] == {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}}
    assert parsed[6][1] == {"type": "content_block_stop", "index": 0}
    assert parsed[7][1] == {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"input_tokens": 20, "output_tokens": 9},
    }


def test_message_start_comes_with_the_first_chunk_even_without_content():
    stream = MessagesStream("m")
    first = stream.feed(0, chunk(""))
    assert names(first) == ["message_start"]
    assert stream.feed(0, chunk("")) == b""


def test_thinking_then_text_then_tool_use():
    raw = run(
        [
            chunk(thinking="Let me "),
            chunk(thinking="think."),
            chunk("Checking"),
            chunk(" now."),
            chunk(tool_calls=[call("get_weather", {"city": "Paris"})]),
            final(),
        ]
    )
    parsed = events(raw)
    assert [name for name, _ in parsed] == [
        "message_start",
        "content_block_start",  # 0 thinking
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",  # signature
        "content_block_stop",
        "content_block_start",  # 1 text
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",  # 2 tool_use
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert parsed[1][1]["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}
    assert parsed[3][1]["delta"] == {"type": "thinking_delta", "thinking": "Let me "}
    assert parsed[5][1]["delta"] == {"type": "signature_delta", "signature": ""}
    assert parsed[7][1]["index"] == 1
    tool_start = parsed[11][1]
    assert tool_start["index"] == 2
    assert tool_start["content_block"]["type"] == "tool_use"
    assert tool_start["content_block"]["id"].startswith("toolu_")
    assert tool_start["content_block"]["name"] == "get_weather" and tool_start["content_block"]["input"] == {}
    assert parsed[12][1]["delta"] == {"type": "input_json_delta", "partial_json": '{"city":"Paris"}'}
    assert parsed[14][1]["delta"]["stop_reason"] == "tool_use"


def test_two_tool_calls_in_one_chunk_are_two_blocks():
    raw = run([chunk(tool_calls=[call("a", {"x": 1}), call("b", {})]), final()])
    starts = [data for name, data in events(raw) if name == "content_block_start"]
    assert [(s["index"], s["content_block"]["name"]) for s in starts] == [(0, "a"), (1, "b")]
    assert starts[0]["content_block"]["id"] != starts[1]["content_block"]["id"]


def test_length_stop_reason():
    raw = run([chunk("a"), final("length")])
    assert events(raw)[-2][1]["delta"]["stop_reason"] == "max_tokens"


def test_empty_stream_still_completes():
    raw = run([final()], prompt=3, completion=0)
    assert names(raw) == ["message_start", "ping", "message_delta", "message_stop"]


def test_end_without_any_chunk_still_starts_the_message():
    raw = MessagesStream("m").end(0, 0)
    assert names(raw) == ["message_start", "ping", "message_delta", "message_stop"]


def test_text_after_thinking_resumes_never_reopens_closed_blocks():
    raw = run([chunk(thinking="a"), chunk("b"), chunk(thinking="c"), final()])
    starts = [data["content_block"]["type"] for name, data in events(raw) if name == "content_block_start"]
    assert starts == ["thinking", "text", "thinking"]
    indices = [data["index"] for name, data in events(raw) if name == "content_block_delta"]
    assert indices == sorted(indices)


# --- the SDK's stream helper accumulates it ---------------------------------------------------


def test_sdk_stream_helper_text():
    raw = run([chunk("Hel"), chunk("lo"), final(prompt=31, completion=2)], prompt=31, completion=2)
    with sse_client(raw).messages.stream(**ARGS) as stream:
        text = "".join(stream.text_stream)
        message = stream.get_final_message()
    assert text == "Hello"
    assert message.content[0].text == "Hello"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 31 and message.usage.output_tokens == 2


def test_sdk_stream_helper_thinking_and_tool_use():
    raw = run(
        [
            chunk(thinking="Weather? "),
            chunk(thinking="Use the tool."),
            chunk("One moment."),
            chunk(tool_calls=[call("get_weather", {"city": "Paris", "days": [1, 2]})]),
            final(),
        ]
    )
    with sse_client(raw).messages.stream(**ARGS) as stream:
        kinds = [event.type for event in stream]
        message = stream.get_final_message()
    assert "thinking" in kinds and "text" in kinds and "input_json" in kinds
    thinking, text, tool_use = message.content
    assert thinking.type == "thinking" and thinking.thinking == "Weather? Use the tool." and thinking.signature == ""
    assert text.text == "One moment."
    assert tool_use.type == "tool_use" and tool_use.input == {"city": "Paris", "days": [1, 2]}
    assert tool_use.id.startswith("toolu_")
    assert message.stop_reason == "tool_use"


def test_sdk_raw_events_are_typed():
    raw = run([chunk("x"), final()])
    with sse_client(raw).messages.create(**ARGS, stream=True) as stream:
        types = [event.type for event in stream]
    # ping is skipped by the SDK; everything else arrives as typed events.
    assert types == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]


@pytest.mark.parametrize(
    ("error", "kind"), [(BackendBusy("busy"), "overloaded_error"), (BackendError("backend broke"), "api_error")]
)
def test_sdk_raises_an_error_event_after_output(error, kind):
    stream = MessagesStream("m")
    raw = stream.feed(0, chunk("partial")) + stream_error_event(error)
    with pytest.raises(anthropic.APIStatusError) as info:
        with sse_client(raw).messages.stream(**ARGS) as s:
            "".join(s.text_stream)
    assert info.value.body == {"type": "error", "error": {"type": kind, "message": error.message}}
