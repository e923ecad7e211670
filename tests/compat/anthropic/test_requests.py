"""compat.anthropic.translate: Messages requests → native /api/chat bodies (pure, no DB)."""

import base64

import pytest

from compat.anthropic.translate import (
    IMAGE_TOKEN_ESTIMATE,
    count_tokens_body,
    count_tokens_result,
    estimate_input_tokens,
    parse_count_tokens_request,
    parse_messages_request,
)
from ollamaweb.core.errors import InvalidRequest
from ollamaweb.gateway.images import RemoteImage

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake-image-bytes").decode()


def request(**fields) -> dict:
    return {"model": "claude-sonnet-4-5", "max_tokens": 256, "messages": [{"role": "user", "content": "Hi"}], **fields}


def parse(**fields):
    return parse_messages_request(request(**fields))


def invalid(body) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        parse_messages_request(body)
    assert info.value.status == 400
    return info.value


def messages_of(*messages, **fields) -> list[dict]:
    return parse(messages=list(messages), **fields).native["messages"]


# --- the envelope ----------------------------------------------------------------------------


def test_minimal_request():
    parsed = parse()
    assert parsed.model == "claude-sonnet-4-5"
    assert parsed.stream is False
    assert parsed.client_user == ""
    assert parsed.native == {
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": False,
        "options": {"num_predict": 256},
    }
    assert "model" not in parsed.native


def test_stream_flag_reaches_the_native_body():
    parsed = parse(stream=True)
    assert parsed.stream is True and parsed.native["stream"] is True


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"max_tokens": None}, "max_tokens"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": "10"}, "max_tokens"),
        ({"max_tokens": True}, "max_tokens"),
        ({"model": ""}, "model"),
        ({"model": 3}, "model"),
        ({"messages": []}, "messages"),
        ({"messages": "Hi"}, "messages"),
        ({"stream": "yes"}, "stream"),
        ({"temperature": 1.5}, "temperature"),
        ({"temperature": "hot"}, "temperature"),
        ({"top_p": -0.1}, "top_p"),
        ({"top_k": -1}, "top_k"),
        ({"top_k": 2.5}, "top_k"),
        ({"stop_sequences": "END"}, "stop_sequences"),
        ({"stop_sequences": ["END", 3]}, "stop_sequences"),
        ({"metadata": {"user_id": 42}}, "metadata.user_id"),
        ({"metadata": "alice"}, "metadata"),
        ({"system": 3}, "system"),
        ({"system": [{"type": "image", "source": {}}]}, "system.0.type"),
    ],
)
def test_invalid_fields_name_the_parameter(fields, param):
    body = request(**fields)
    if fields.get("max_tokens", 1) is None:
        del body["max_tokens"]
    error = invalid(body)
    assert error.param == param
    assert param.split(".")[0] in error.message


def test_missing_model_and_messages():
    assert invalid({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}).param == "model"
    assert invalid({"model": "m", "max_tokens": 5}).param == "messages"
    assert invalid([1, 2]).param is None


def test_max_tokens_as_integral_float():
    assert parse(max_tokens=32000.0).native["options"] == {"num_predict": 32000}


def test_sampling_options_only_when_sent():
    parsed = parse(temperature=0.2, top_p=0.9, top_k=40, stop_sequences=["\n\nHuman:", "END"])
    assert parsed.native["options"] == {
        "temperature": 0.2,
        "top_p": 0.9,
        "top_k": 40,
        "stop": ["\n\nHuman:", "END"],
        "num_predict": 256,
    }


def test_empty_stop_sequences_send_no_stop():
    assert "stop" not in parse(stop_sequences=[]).native["options"]


def test_metadata_user_id_is_the_client_user():
    assert parse(metadata={"user_id": "user_abc_account__session_1"}).client_user == "user_abc_account__session_1"
    assert parse(metadata={}).client_user == ""


def test_unknown_fields_are_ignored():
    parsed = parse(service_tier="auto", cache_control={"type": "ephemeral"}, container=None, speed="fast")
    assert parsed.native["messages"] == [{"role": "user", "content": "Hi"}]


# --- system ----------------------------------------------------------------------------------


def test_system_string():
    assert messages_of({"role": "user", "content": "Hi"}, system="Be brief.")[0] == {
        "role": "system",
        "content": "Be brief.",
    }


def test_system_blocks_with_cache_control_are_joined():
    system = [
        {"type": "text", "text": "You are Claude Code."},
        {"type": "text", "text": "Use the tools.", "cache_control": {"type": "ephemeral"}},
    ]
    assert messages_of({"role": "user", "content": "Hi"}, system=system)[0] == {
        "role": "system",
        "content": "You are Claude Code.\n\nUse the tools.",
    }


def test_empty_system_adds_no_message():
    assert messages_of({"role": "user", "content": "Hi"}, system="") == [{"role": "user", "content": "Hi"}]
    assert messages_of({"role": "user", "content": "Hi"}, system=[]) == [{"role": "user", "content": "Hi"}]


def test_system_role_inside_messages_passes_through():
    # Claude Code ≥ 2.1.154 sends role "system" inside messages.
    assert messages_of({"role": "system", "content": "Reminder."}, {"role": "user", "content": "Hi"}) == [
        {"role": "system", "content": "Reminder."},
        {"role": "user", "content": "Hi"},
    ]


def test_bad_role():
    assert invalid(request(messages=[{"role": "tool", "content": "x"}])).param == "messages.0.role"


# --- text and image blocks -------------------------------------------------------------------


def test_text_blocks_are_joined_into_one_message():
    assert messages_of(
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "<system-reminder>x</system-reminder>"},
                {"type": "text", "text": "Fix the bug.", "cache_control": {"type": "ephemeral"}},
            ],
        }
    ) == [{"role": "user", "content": "<system-reminder>x</system-reminder>\n\nFix the bug."}]


def test_base64_image_goes_to_images():
    block = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    assert messages_of({"role": "user", "content": [block, {"type": "text", "text": "What is this?"}]}) == [
        {"role": "user", "content": "What is this?", "images": [PNG]}
    ]


def test_base64_image_whitespace_is_removed():
    data = PNG[:10] + "\n" + PNG[10:]
    block = {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": data}}
    assert messages_of({"role": "user", "content": [block]})[0]["images"] == [PNG]


def test_url_image_becomes_a_remote_image():
    block = {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}
    parsed = parse(messages=[{"role": "user", "content": [{"type": "text", "text": "Describe"}, block]}])
    image = RemoteImage("https://example.com/cat.png", "messages.0.content.1.source.url")
    assert parsed.native["messages"] == [{"role": "user", "content": "Describe", "images": [image]}]


@pytest.mark.parametrize(
    ("source", "param"),
    [
        ({"type": "base64", "media_type": "image/png", "data": "not base64!"}, "messages.0.content.0.source.data"),
        ({"type": "base64", "media_type": "image/png", "data": ""}, "messages.0.content.0.source.data"),
        ({"type": "base64", "media_type": "image/tiff", "data": PNG}, "messages.0.content.0.source.media_type"),
        ({"type": "base64", "media_type": "image/png"}, "messages.0.content.0.source.data"),
        ({"type": "url", "url": "ftp://example.com/x.png"}, "messages.0.content.0.source.url"),
        ({"type": "file", "file_id": "file_1"}, "messages.0.content.0.source.type"),
    ],
)
def test_bad_images(source, param):
    body = request(messages=[{"role": "user", "content": [{"type": "image", "source": source}]}])
    assert invalid(body).param == param


def test_image_without_source():
    body = request(messages=[{"role": "user", "content": [{"type": "image"}]}])
    assert invalid(body).param == "messages.0.content.0.source"


def test_unknown_block_type_is_a_400():
    body = request(messages=[{"role": "user", "content": [{"type": "audio", "data": "x"}]}])
    error = invalid(body)
    assert error.param == "messages.0.content.0.type"
    assert "audio" in error.message


def test_text_block_without_text():
    assert invalid(request(messages=[{"role": "user", "content": [{"type": "text"}]}])).param == (
        "messages.0.content.0.text"
    )


def test_text_document_is_inlined_with_its_title():
    document = {
        "type": "document",
        "title": "notes.txt",
        "source": {"type": "text", "media_type": "text/plain", "data": "a\nb"},
    }
    assert messages_of({"role": "user", "content": [document, {"type": "text", "text": "Summarize"}]}) == [
        {"role": "user", "content": "notes.txt\na\nb\n\nSummarize"}
    ]


def test_pdf_document_becomes_a_visible_note():
    document = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": PNG}}
    content = messages_of({"role": "user", "content": [document]})[0]["content"]
    assert "application/pdf" in content and "cannot read" in content


def test_skipped_blocks():
    messages = messages_of(
        {"role": "user", "content": "Search"},
        {
            "role": "assistant",
            "content": [
                {"type": "redacted_thinking", "data": "xyz"},
                {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
                {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
                {"type": "text", "text": "Found it."},
            ],
        },
    )
    assert messages == [{"role": "user", "content": "Search"}, {"role": "assistant", "content": "Found it."}]


# --- tools -----------------------------------------------------------------------------------

WEATHER = {
    "name": "get_weather",
    "description": "Weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
TIME = {"name": "get_time", "input_schema": {"type": "object", "properties": {}}}


def test_tools_become_functions():
    parsed = parse(tools=[WEATHER, {**TIME, "type": "custom", "cache_control": {"type": "ephemeral"}}])
    assert parsed.native["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather in a city",
                "parameters": WEATHER["input_schema"],
            },
        },
        {"type": "function", "function": {"name": "get_time", "parameters": TIME["input_schema"]}},
    ]


def test_server_tools_are_stripped():
    tools = [WEATHER, {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}]
    assert [tool["function"]["name"] for tool in parse(tools=tools).native["tools"]] == ["get_weather"]
    assert "tools" not in parse(tools=[{"type": "web_search_20250305", "name": "web_search"}]).native


@pytest.mark.parametrize(
    "choice", [None, {"type": "auto"}, {"type": "any"}, {"type": "auto", "disable_parallel_tool_use": True}]
)
def test_tool_choice_offering_every_tool(choice):
    assert len(parse(tools=[WEATHER, TIME], tool_choice=choice).native["tools"]) == 2


def test_tool_choice_none_sends_no_tools():
    assert "tools" not in parse(tools=[WEATHER, TIME], tool_choice={"type": "none"}).native


def test_tool_choice_tool_offers_only_that_tool():
    tools = parse(tools=[WEATHER, TIME], tool_choice={"type": "tool", "name": "get_time"}).native["tools"]
    assert [tool["function"]["name"] for tool in tools] == ["get_time"]


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"tools": [WEATHER], "tool_choice": {"type": "tool", "name": "nope"}}, "tool_choice.name"),
        ({"tools": [WEATHER], "tool_choice": {"type": "required"}}, "tool_choice.type"),
        ({"tools": [WEATHER], "tool_choice": "auto"}, "tool_choice"),
        ({"tools": {"name": "x"}}, "tools"),
        ({"tools": [{"input_schema": {}}]}, "tools.0.name"),
        ({"tools": [{"name": "x"}]}, "tools.0.input_schema"),
        ({"tools": [{"name": "x", "input_schema": "{}"}]}, "tools.0.input_schema"),
    ],
)
def test_bad_tools(fields, param):
    assert invalid(request(**fields)).param == param


def test_tool_round_trip_history():
    messages = messages_of(
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "Two cities.", "signature": "sig"},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_02", "name": "get_weather", "input": {"city": "Rome"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "content": "18°C"},
                {"type": "tool_result", "tool_use_id": "toolu_02", "content": [{"type": "text", "text": "24°C"}]},
                {"type": "text", "text": "And tomorrow?"},
            ],
        },
        tools=[WEATHER],
    )
    assert messages == [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "thinking": "Two cities.",
            "tool_calls": [
                {"id": "toolu_01", "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Paris"}}},
                {"id": "toolu_02", "function": {"index": 1, "name": "get_weather", "arguments": {"city": "Rome"}}},
            ],
        },
        {"role": "tool", "content": "18°C", "tool_call_id": "toolu_01", "tool_name": "get_weather"},
        {"role": "tool", "content": "24°C", "tool_call_id": "toolu_02", "tool_name": "get_weather"},
        {"role": "user", "content": "And tomorrow?"},
    ]


def test_tool_results_alone_make_no_empty_user_message():
    messages = messages_of(
        {"role": "user", "content": "Time?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_time", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "noon"}]},
    )
    assert messages[1] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"id": "toolu_1", "function": {"index": 0, "name": "get_time", "arguments": {}}}],
    }
    assert messages[2:] == [{"role": "tool", "content": "noon", "tool_call_id": "toolu_1", "tool_name": "get_time"}]


def test_tool_result_error_and_image_and_unknown_id():
    messages = messages_of(
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_x", "content": "file not found", "is_error": True},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_y",
                    "content": [
                        {"type": "text", "text": "screenshot:"},
                        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                    ],
                },
                {"type": "tool_result", "tool_use_id": "toolu_z"},
            ],
        }
    )
    assert messages == [
        {"role": "tool", "content": "Error: file not found", "tool_call_id": "toolu_x"},
        {"role": "tool", "content": "screenshot:", "tool_call_id": "toolu_y", "images": [PNG]},
        {"role": "tool", "content": "", "tool_call_id": "toolu_z"},
    ]


def test_tool_result_with_other_blocks_keeps_their_json():
    block = {"type": "search_result", "source": "https://a", "title": "A", "content": [{"type": "text", "text": "x"}]}
    messages = messages_of(
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": [block]}]}
    )
    assert '"search_result"' in messages[0]["content"] and '"https://a"' in messages[0]["content"]


@pytest.mark.parametrize(
    ("block", "role", "param"),
    [
        ({"type": "tool_use", "name": "f", "input": {}}, "assistant", "messages.0.content.0.id"),
        ({"type": "tool_use", "id": "toolu_1", "input": {}}, "assistant", "messages.0.content.0.name"),
        ({"type": "tool_use", "id": "toolu_1", "name": "f", "input": "{}"}, "assistant", "messages.0.content.0.input"),
        ({"type": "tool_result", "content": "x"}, "user", "messages.0.content.0.tool_use_id"),
        ({"type": "tool_result", "tool_use_id": "t", "content": 5}, "user", "messages.0.content.0.content"),
        ({"type": "tool_result", "tool_use_id": "t", "is_error": "yes"}, "user", "messages.0.content.0.is_error"),
        ({"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}, "user", "messages.0.content.0.type"),
        ({"type": "tool_result", "tool_use_id": "t"}, "assistant", "messages.0.content.0.type"),
        ({"type": "thinking"}, "assistant", "messages.0.content.0.thinking"),
    ],
)
def test_bad_tool_blocks(block, role, param):
    assert invalid(request(messages=[{"role": role, "content": [block]}])).param == param


# --- thinking and output format --------------------------------------------------------------


def test_thinking_enabled_maps_to_think():
    assert parse(thinking={"type": "enabled", "budget_tokens": 10000}).native["think"] is True


def test_thinking_disabled_maps_to_think_false():
    assert parse(thinking={"type": "disabled"}).native["think"] is False


def test_thinking_adaptive_turns_it_on():
    assert parse(thinking={"type": "adaptive"}).native["think"] is True


def test_no_thinking_leaves_the_model_default():
    assert "think" not in parse().native


@pytest.mark.parametrize(
    ("effort", "think"), [("low", "low"), ("medium", "medium"), ("high", "high"), ("xhigh", "high"), ("max", "max")]
)
def test_output_effort_maps_to_think_levels(effort, think):
    assert parse(output_config={"effort": effort}).native["think"] == think


def test_thinking_wins_over_effort():
    assert parse(thinking={"type": "disabled"}, output_config={"effort": "high"}).native["think"] is False


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"thinking": {"type": "enabled"}}, "thinking.budget_tokens"),
        ({"thinking": {"type": "on"}}, "thinking.type"),
        ({"thinking": True}, "thinking"),
        ({"output_config": {"effort": "extreme"}}, "output_config.effort"),
        ({"output_config": {"format": {"type": "json_object"}}}, "output_config.format"),
    ],
)
def test_bad_thinking_and_output_config(fields, param):
    assert invalid(request(**fields)).param == param


def test_output_format_json_schema():
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    assert parse(output_config={"format": {"type": "json_schema", "schema": schema}}).native["format"] == schema


def test_assistant_thinking_blocks_are_joined_and_signature_dropped():
    messages = messages_of(
        {"role": "user", "content": "Q"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "First. ", "signature": "abc"},
                {"type": "thinking", "thinking": "Second.", "signature": "def"},
                {"type": "text", "text": "A"},
            ],
        },
    )
    assert messages[1] == {"role": "assistant", "content": "A", "thinking": "First. Second."}


# --- count_tokens ----------------------------------------------------------------------------


def test_count_tokens_request_needs_no_max_tokens():
    parsed = parse_count_tokens_request(
        {
            "model": "claude-haiku-4-5",
            "system": "S",
            "messages": [{"role": "user", "content": "Hi"}],
            "tools": [WEATHER],
        }
    )
    assert parsed.model == "claude-haiku-4-5"
    assert parsed.native["messages"] == [{"role": "system", "content": "S"}, {"role": "user", "content": "Hi"}]
    assert parsed.native["tools"][0]["function"]["name"] == "get_weather"
    body = count_tokens_body(parsed.native)
    assert body["stream"] is False
    assert body["options"] == {"num_predict": 1}
    assert body["messages"] == parsed.native["messages"] and body["tools"] == parsed.native["tools"]


def test_count_tokens_body_keeps_the_thinking_setting():
    parsed = parse_count_tokens_request(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "Hi"}],
            "thinking": {"type": "enabled", "budget_tokens": 2000},
        }
    )
    assert count_tokens_body(parsed.native)["think"] is True


def test_count_tokens_validates_like_messages():
    with pytest.raises(InvalidRequest) as info:
        parse_count_tokens_request({"model": "m", "messages": []})
    assert info.value.param == "messages"


def test_count_tokens_result_is_the_backend_count():
    native = {"messages": [{"role": "user", "content": "Hi"}]}
    assert count_tokens_result({"prompt_eval_count": 1234, "eval_count": 1}, native) == {"input_tokens": 1234}


def test_count_tokens_result_never_zero():
    native = {"messages": [{"role": "user", "content": "x" * 400}]}
    assert count_tokens_result({"prompt_eval_count": 0}, native) == {"input_tokens": estimate_input_tokens(native)}
    assert count_tokens_result(None, {"messages": []}) == {"input_tokens": 1}


def test_estimate_grows_with_tools_images_and_calls():
    base = {"messages": [{"role": "user", "content": "x" * 400}]}
    plain = estimate_input_tokens(base)
    assert plain == (400 + 16 + 3) // 4
    with_tools = estimate_input_tokens({**base, "tools": [{"type": "function", "function": {"name": "f" * 100}}]})
    assert with_tools > plain + 20
    with_image = estimate_input_tokens({"messages": [{**base["messages"][0], "images": [PNG]}]})
    assert with_image == plain + IMAGE_TOKEN_ESTIMATE
