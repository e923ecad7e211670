"""compat.anthropic.translate: native /api/chat results → Anthropic Messages (checked with the real SDK)."""

import re
from functools import partial

import anthropic
import pytest

from compat.anthropic.translate import new_message_id, new_tool_use_id, render_message, stop_reason
from tests.compat.native import native_chat

from .sdk import ARGS, json_client

# A whole answer of qwen3:8b: 12 tokens in, 7 out.
native = partial(
    native_chat,
    done_reason="stop",
    prompt=12,
    completion=7,
    model="qwen3:8b",
    created_at="2026-12-03T12:00:00.123456789Z",
)


def call(name, arguments, call_id="call_abc") -> dict:
    return {"id": call_id, "function": {"index": 0, "name": name, "arguments": arguments}}


def test_text_message():
    message = render_message(native("Hello!"), "claude-sonnet-4-5", "msg_fixed")
    assert message == {
        "id": "msg_fixed",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": "Hello!"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 12,
            "output_tokens": 7,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def test_ids_look_like_anthropic_ids_and_are_unique():
    ids = {new_message_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(r"msg_[A-Za-z0-9]{24}", i) for i in ids)
    assert re.fullmatch(r"toolu_[A-Za-z0-9]{24}", new_tool_use_id())
    assert render_message(native("x"), "m")["id"].startswith("msg_")


def test_blocks_in_order_thinking_text_tool_use():
    result = native(
        "Let me check.",
        thinking="The user wants weather.",
        tool_calls=[call("get_weather", {"city": "Paris"}), call("get_time", {}, "call_2")],
    )
    message = render_message(result, "claude-opus-4-1")
    content = message["content"]
    assert [block["type"] for block in content] == ["thinking", "text", "tool_use", "tool_use"]
    assert content[0] == {"type": "thinking", "thinking": "The user wants weather.", "signature": ""}
    assert content[2]["name"] == "get_weather" and content[2]["input"] == {"city": "Paris"}
    assert content[3]["name"] == "get_time" and content[3]["input"] == {}
    assert all(block["id"].startswith("toolu_") for block in content[2:])
    assert content[2]["id"] != content[3]["id"]
    assert message["stop_reason"] == "tool_use"


def test_tool_call_without_text_has_only_tool_use():
    content = render_message(native("", tool_calls=[call("f", {"a": 1})]), "m")["content"]
    assert [block["type"] for block in content] == ["tool_use"]


def test_string_arguments_from_old_backends_are_decoded():
    content = render_message(native(tool_calls=[call("f", '{"a": [1, 2]}')]), "m")["content"]
    assert content[0]["input"] == {"a": [1, 2]}
    content = render_message(native(tool_calls=[call("f", "not json")]), "m")["content"]
    assert content[0]["input"] == {"arguments": "not json"}


def test_empty_answer_has_no_blocks():
    assert render_message(native(""), "m")["content"] == []


@pytest.mark.parametrize(
    ("done_reason", "tools", "expected"),
    [
        ("stop", False, "end_turn"),
        ("length", False, "max_tokens"),
        ("stop", True, "tool_use"),
        ("length", True, "tool_use"),
        (None, False, "end_turn"),
        ("unload", False, "end_turn"),
    ],
)
def test_stop_reasons(done_reason, tools, expected):
    assert stop_reason(done_reason, tools) == expected


def test_missing_counts_are_zero():
    result = native("x")
    del result["prompt_eval_count"], result["eval_count"]
    assert render_message(result, "m")["usage"]["input_tokens"] == 0


# --- what the SDK makes of it -----------------------------------------------------------------


def test_sdk_parses_a_text_message():
    client = json_client(render_message(native("Hello!"), "claude-sonnet-4-5"))
    message = client.messages.create(**ARGS)
    assert isinstance(message, anthropic.types.Message)
    assert message.content[0].text == "Hello!"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 12 and message.usage.output_tokens == 7


def test_sdk_parses_thinking_and_tool_use():
    result = native("Checking.", thinking="Hmm.", tool_calls=[call("get_weather", {"city": "Paris"})])
    message = json_client(render_message(result, "claude-sonnet-4-5")).messages.create(**ARGS)
    thinking, text, tool_use = message.content
    assert isinstance(thinking, anthropic.types.ThinkingBlock) and thinking.thinking == "Hmm."
    assert isinstance(text, anthropic.types.TextBlock) and text.text == "Checking."
    assert isinstance(tool_use, anthropic.types.ToolUseBlock)
    assert tool_use.input == {"city": "Paris"} and tool_use.name == "get_weather"
    assert message.stop_reason == "tool_use"
    # The assistant turn goes back as the SDK builds it, and parses again on our side.
    from compat.anthropic.translate import parse_messages_request

    follow_up = {
        **ARGS,
        "messages": [
            ARGS["messages"][0],
            {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in message.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "18°C"}]},
        ],
    }
    native_messages = parse_messages_request(follow_up).native["messages"]
    assert native_messages[1]["tool_calls"][0]["id"] == tool_use.id
    assert native_messages[1]["thinking"] == "Hmm."
    assert native_messages[2] == {
        "role": "tool",
        "content": "18°C",
        "tool_call_id": tool_use.id,
        "tool_name": "get_weather",
    }
