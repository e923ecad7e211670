"""compat.openai.chat: /v1/chat/completions ⇄ /api/chat, requests, responses and streams (pure, no DB)."""

import base64

import orjson
import pytest

from compat.openai.chat import (
    ChatRequest,
    ChatStream,
    chat_choice,
    logprob_entry,
    parse_chat_request,
    tool_call,
)
from compat.openai.common import choices_envelope
from compat.openai.messages import RemoteImage
from compat.openai.protocol import error_type
from ollamaweb.core.errors import InvalidRequest
from tests.compat.native import native_chat

MAX = 8
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake-image-bytes").decode()
HI = [{"role": "user", "content": "hi"}]
PNG_URL = f"data:image/png;base64,{PNG}"
NATIVE_HI = [{"role": "user", "content": "hi"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
TIME = {"type": "function", "function": {"name": "get_time"}}


def image(url: str) -> dict:
    """A message's image part."""
    return {"type": "image_url", "image_url": {"url": url}}


def parse(**fields) -> ChatRequest:
    return parse_chat_request({"model": "llama3", "messages": HI, **fields}, MAX)


def invalid(body, max_choices=MAX) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        parse_chat_request(body, max_choices)
    assert info.value.status == 400
    assert error_type(info.value) == "invalid_request_error"
    return info.value


def invalid_field(**fields) -> InvalidRequest:
    return invalid({"model": "llama3", "messages": HI, **fields})


# --- request: basics ------------------------------------------------------------------------


def test_minimal_request():
    chat = parse()
    assert chat == ChatRequest(model="llama3", native={"messages": NATIVE_HI, "stream": False})
    assert (chat.n, chat.stream, chat.include_usage, chat.logprobs, chat.client_user) == (1, False, False, False, "")
    assert chat.remote_images == []


def test_model_is_not_put_in_native_body():
    assert "model" not in parse().native


def test_full_request_maps_every_field():
    sampling = {
        "temperature": 0.3,
        "top_p": 0.8,
        "frequency_penalty": 0.5,
        "presence_penalty": -0.5,
        "seed": 42,
        "stop": ["END", "STOP"],
    }
    chat = parse_chat_request(
        {
            "model": "someuser/custom:7b",
            "messages": [
                {"role": "developer", "content": "Be brief."},
                {"role": "user", "content": "Weather in Paris?"},
            ],
            "stream": True,
            "stream_options": {"include_usage": True},
            **sampling,
            "max_tokens": 50,
            "response_format": {"type": "json_object"},
            "tools": [WEATHER],
            "tool_choice": "auto",
            "logprobs": True,
            "top_logprobs": 3,
            "reasoning_effort": "high",
            "logit_bias": {},
            "user": "end-user-7",
            "n": 2,
            "keep_alive": "10m",
            "parallel_tool_calls": True,
            "metadata": {"ignored": "yes"},
        },
        MAX,
    )
    assert chat.model == "someuser/custom:7b"
    assert (chat.n, chat.stream, chat.include_usage, chat.logprobs, chat.client_user) == (
        2,
        True,
        True,
        True,
        "end-user-7",
    )
    assert chat.native == {
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather in Paris?"}],
        "stream": True,
        "options": {**sampling, "num_predict": 50},  # the sampling fields pass unchanged
        "format": "json",
        "tools": [WEATHER],
        "logprobs": True,
        "top_logprobs": 3,
        "think": "high",
        "keep_alive": "10m",
    }


def test_messages_with_images_tools_and_reasoning():
    chat = parse(
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "What?"}, image(PNG_URL)]},
            {
                "role": "assistant",
                "content": None,
                "reasoning": "call the tool",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        ]
    )
    assert chat.native["messages"] == [
        {"role": "user", "content": "What?", "images": [PNG]},
        {
            "role": "assistant",
            "content": "",
            "thinking": "call the tool",
            "tool_calls": [
                {"id": "call_1", "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Paris"}}}
            ],
        },
        {"role": "tool", "content": "sunny", "tool_name": "get_weather", "tool_call_id": "call_1"},
    ]
    assert chat.remote_images == []


def test_remote_images_are_collected():
    chat = parse(
        messages=[
            {"role": "user", "content": [image("https://example.com/a.png")]},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [image(PNG_URL), image("http://example.com/b.png")]},
        ]
    )
    first = RemoteImage("https://example.com/a.png", "messages[0].content[0].image_url.url")
    second = RemoteImage("http://example.com/b.png", "messages[2].content[1].image_url.url")
    assert chat.remote_images == [first, second]
    assert chat.native["messages"][0]["images"] == [first]
    assert chat.native["messages"][2]["images"] == [PNG, second]


def test_bad_image_names_the_part():
    error = invalid_field(
        messages=[{"role": "user", "content": [{"type": "text", "text": "x"}, image("data:image/png;base64,%%%")]}]
    )
    assert error.param == "messages[0].content[1].image_url.url"


# --- request: body/model/messages validation --------------------------------------------------


@pytest.mark.parametrize("body", [[], "x", None, 5, [{"model": "m"}]])
def test_body_must_be_an_object(body):
    invalid(body)


def test_missing_model():
    error = invalid({"messages": HI})
    assert (error.param, error.code) == ("model", "missing_required_parameter")
    assert invalid({"model": None, "messages": HI}).param == "model"


def test_empty_model_and_wrong_type():
    assert invalid({"model": "", "messages": HI}).param == "model"
    error = invalid({"model": 5, "messages": HI})
    assert (error.param, error.code) == ("model", "invalid_type")


def test_missing_or_empty_messages():
    assert invalid({"model": "m"}).param == "messages"
    assert invalid({"model": "m", "messages": []}).param == "messages"
    assert invalid({"model": "m", "messages": "hi"}).param == "messages"


# --- request: sampling ----------------------------------------------------------------------


def test_temperature_and_top_p_only_when_sent():
    assert "options" not in parse().native
    assert parse(temperature=0).native["options"] == {"temperature": 0}
    assert parse(top_p=1).native["options"] == {"top_p": 1}
    assert parse(temperature=None, top_p=None).native.get("options") is None


@pytest.mark.parametrize(
    ("field", "value"), [("temperature", 2.5), ("temperature", -1), ("top_p", 1.1), ("top_p", -0.1)]
)
def test_temperature_and_top_p_ranges(field, value):
    error = invalid_field(**{field: value})
    assert (error.param, error.code) == (field, "invalid_value")


def test_penalties():
    assert parse(frequency_penalty=1.5, presence_penalty=-2).native["options"] == {
        "frequency_penalty": 1.5,
        "presence_penalty": -2,
    }
    assert invalid_field(frequency_penalty=3).param == "frequency_penalty"
    assert invalid_field(presence_penalty="x").param == "presence_penalty"


def test_seed():
    assert parse(seed=7).native["options"] == {"seed": 7}
    assert invalid_field(seed=1.5).param == "seed"


def test_stop():
    assert parse(stop="END").native["options"] == {"stop": ["END"]}
    assert parse(stop=["a", "b"]).native["options"] == {"stop": ["a", "b"]}
    error = invalid_field(stop=["a", 1])
    assert (error.param, error.code) == ("stop", "invalid_type")
    assert invalid_field(stop=5).param == "stop"


def test_max_tokens():
    assert parse(max_tokens=100).native["options"] == {"num_predict": 100}
    assert parse(max_completion_tokens=200).native["options"] == {"num_predict": 200}
    assert parse(max_tokens=100, max_completion_tokens=200).native["options"] == {"num_predict": 200}
    assert invalid_field(max_tokens=0).param == "max_tokens"
    assert invalid_field(max_tokens="10").param == "max_tokens"
    assert invalid_field(max_completion_tokens=0).param == "max_completion_tokens"


def test_ollama_option_extensions():
    assert parse(top_k=20, num_ctx=4096, min_p=0.1, repeat_penalty=1.2).native["options"] == {
        "top_k": 20,
        "num_ctx": 4096,
        "min_p": 0.1,
        "repeat_penalty": 1.2,
    }


def test_keep_alive_passthrough():
    assert parse(keep_alive=0).native["keep_alive"] == 0
    assert parse(keep_alive="5m").native["keep_alive"] == "5m"
    assert "keep_alive" not in parse(keep_alive=True).native
    assert "keep_alive" not in parse(keep_alive={"x": 1}).native


# --- request: stream ------------------------------------------------------------------------


def test_stream_flag():
    chat = parse(stream=True)
    assert (chat.stream, chat.native["stream"], chat.include_usage) == (True, True, False)
    assert parse(stream=False).native["stream"] is False
    assert parse(stream=None).native["stream"] is False
    error = invalid_field(stream="yes")
    assert (error.param, error.code) == ("stream", "invalid_type")


def test_stream_options_include_usage():
    assert parse(stream=True, stream_options={"include_usage": True}).include_usage is True
    assert parse(stream=True, stream_options={"include_usage": False}).include_usage is False
    assert parse(stream=True, stream_options={}).include_usage is False
    assert parse(stream=True, stream_options=None).include_usage is False
    assert "stream_options" not in parse(stream=True, stream_options={"include_usage": True}).native


def test_stream_options_refused_without_stream():
    assert invalid_field(stream_options={"include_usage": True}).param == "stream_options"
    assert invalid_field(stream=False, stream_options={"include_usage": True}).param == "stream_options"


def test_stream_options_types():
    assert invalid_field(stream=True, stream_options=[1]).param == "stream_options"
    assert invalid_field(stream=True, stream_options={"include_usage": 1}).param == "stream_options.include_usage"


# --- request: response_format ---------------------------------------------------------------


def test_response_format_json_object():
    assert parse(response_format={"type": "json_object"}).native["format"] == "json"


def test_response_format_json_schema_passes_the_schema():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    chat = parse(
        response_format={"type": "json_schema", "json_schema": {"name": "x", "strict": True, "schema": schema}}
    )
    assert chat.native["format"] == schema


def test_response_format_text_sends_nothing():
    assert "format" not in parse(response_format={"type": "text"}).native
    assert "format" not in parse(response_format=None).native


@pytest.mark.parametrize(
    "response_format",
    [
        {"type": "json_schema"},
        {"type": "json_schema", "json_schema": {"name": "x"}},
        {"type": "json_schema", "json_schema": {"schema": "not an object"}},
        {"type": "json_schema", "json_schema": "x"},
    ],
)
def test_response_format_json_schema_without_schema(response_format):
    error = invalid_field(response_format=response_format)
    assert error.param == "response_format.json_schema.schema"


def test_response_format_bad_type():
    error = invalid_field(response_format={"type": "yaml"})
    assert (error.param, error.code) == ("response_format.type", "invalid_value")
    assert invalid_field(response_format={}).param == "response_format.type"
    error = invalid_field(response_format="json_object")
    assert (error.param, error.code) == ("response_format", "invalid_type")


# --- request: tools -------------------------------------------------------------------------


def test_tools_are_forwarded():
    assert parse(tools=[WEATHER, TIME]).native["tools"] == [
        WEATHER,
        {"type": "function", "function": {"name": "get_time"}},
    ]


def test_tool_without_type_defaults_to_function_and_extras_are_dropped():
    tool = {"function": {"name": "f", "description": 5, "strict": True, "parameters": {"type": "object"}}}
    assert parse(tools=[tool]).native["tools"] == [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    ]


def test_empty_tools_sends_nothing():
    assert "tools" not in parse(tools=[]).native
    assert "tools" not in parse(tools=None).native


@pytest.mark.parametrize("tool_choice", ["auto", "required", None])
def test_tool_choice_that_keeps_all_tools(tool_choice):
    assert parse(tools=[WEATHER, TIME], tool_choice=tool_choice).native["tools"] == [WEATHER, TIME]


def test_tool_choice_none_drops_tools():
    assert "tools" not in parse(tools=[WEATHER, TIME], tool_choice="none").native


def test_tool_choice_named_function_filters():
    choice = {"type": "function", "function": {"name": "get_time"}}
    assert parse(tools=[WEATHER, TIME], tool_choice=choice).native["tools"] == [TIME]


def test_tool_choice_unknown_name():
    error = invalid_field(tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "nope"}})
    assert (error.param, error.code) == ("tool_choice", "invalid_value")
    assert "nope" in error.message
    assert invalid_field(tool_choice={"type": "function", "function": {"name": "x"}}).param == "tool_choice"


@pytest.mark.parametrize("tool_choice", ["sometimes", 1, {"type": "function"}, {"function": "get_weather"}, []])
def test_tool_choice_invalid(tool_choice):
    error = invalid_field(tools=[WEATHER], tool_choice=tool_choice)
    assert (error.param, error.code) == ("tool_choice", "invalid_value")


def test_tools_validation():
    error = invalid_field(tools={"type": "function"})
    assert (error.param, error.code) == ("tools", "invalid_type")
    error = invalid_field(tools=[WEATHER, {"type": "code_interpreter"}])
    assert (error.param, error.code) == ("tools[1]", "invalid_value")
    assert invalid_field(tools=["get_weather"]).param == "tools[0]"
    assert invalid_field(tools=[{"type": "function"}]).param == "tools[0].function.name"
    assert invalid_field(tools=[{"type": "function", "function": {"name": ""}}]).param == "tools[0].function.name"
    error = invalid_field(tools=[{"type": "function", "function": {"name": "f", "parameters": "x"}}])
    assert error.param == "tools[0].function.parameters"


# --- request: logit_bias, user, n -----------------------------------------------------------


def test_logit_bias():
    assert parse(logit_bias={}).native == parse().native
    error = invalid_field(logit_bias={"50256": -100})
    assert (error.param, error.code) == ("logit_bias", "unsupported_parameter")


def test_user():
    assert parse(user="u-1").client_user == "u-1"
    assert "user" not in parse(user="u-1").native
    assert invalid_field(user=5).param == "user"


def test_n():
    assert parse(n=1).n == 1
    assert parse(n=MAX).n == MAX
    assert "n" not in parse(n=3).native
    error = invalid_field(n=MAX + 1)
    assert (error.param, error.code) == ("n", "invalid_value")
    assert invalid_field(n=0).param == "n"
    assert invalid_field(n="2").param == "n"
    assert invalid({"model": "m", "messages": HI, "n": 2}, max_choices=1).param == "n"


# --- request: logprobs ----------------------------------------------------------------------


def test_logprobs():
    chat = parse(logprobs=True)
    assert chat.logprobs is True
    assert chat.native["logprobs"] is True
    assert "top_logprobs" not in chat.native
    assert parse(logprobs=True, top_logprobs=20).native["top_logprobs"] == 20
    assert "top_logprobs" not in parse(logprobs=True, top_logprobs=0).native
    assert "logprobs" not in parse(logprobs=False).native
    assert parse(logprobs=False).logprobs is False


def test_top_logprobs_without_logprobs():
    error = invalid_field(top_logprobs=5)
    assert (error.param, error.code) == ("top_logprobs", "invalid_value")
    assert invalid_field(logprobs=False, top_logprobs=5).param == "top_logprobs"
    assert "logprobs" not in parse(top_logprobs=0).native


def test_top_logprobs_range_and_types():
    assert invalid_field(logprobs=True, top_logprobs=21).param == "top_logprobs"
    assert invalid_field(logprobs=True, top_logprobs=-1).param == "top_logprobs"
    assert invalid_field(logprobs=True, top_logprobs="5").param == "top_logprobs"
    assert invalid_field(logprobs=1).param == "logprobs"


# --- request: reasoning ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("effort", "think"),
    [
        ("none", False),
        ("minimal", "low"),
        ("low", "low"),
        ("medium", "medium"),
        ("high", "high"),
        ("max", "max"),
        ("xhigh", "max"),
        ("ultra", "max"),
    ],
)
def test_reasoning_effort_table(effort, think):
    native = parse(reasoning_effort=effort).native
    assert native["think"] == think
    assert type(native["think"]) is type(think)  # False stays a boolean, never 0 or "none"


def test_reasoning_effort_absent():
    assert "think" not in parse().native
    assert "think" not in parse(reasoning_effort=None).native


@pytest.mark.parametrize("effort", ["extreme", "HIGH", "", 3, True, ["high"], {"effort": "high"}])
def test_reasoning_effort_invalid(effort):
    error = invalid_field(reasoning_effort=effort)
    assert (error.param, error.code) == ("reasoning_effort", "invalid_value")


def test_reasoning_object_takes_precedence():
    assert parse(reasoning={"effort": "low"}, reasoning_effort="high").native["think"] == "low"
    assert parse(reasoning={"effort": None}, reasoning_effort="high").native["think"] == "high"
    assert parse(reasoning={}, reasoning_effort="none").native["think"] is False


def test_reasoning_object_invalid_names_its_field():
    error = invalid_field(reasoning={"effort": "extreme"})
    assert (error.param, error.code) == ("reasoning.effort", "invalid_value")
    assert invalid_field(reasoning={"effort": ["low"]}).param == "reasoning.effort"


# --- wrong types everywhere -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"temperature": "hot"}, "temperature"),
        ({"top_p": [1]}, "top_p"),
        ({"seed": "42"}, "seed"),
        ({"max_tokens": 1.5}, "max_tokens"),
        ({"max_completion_tokens": "x"}, "max_completion_tokens"),
        ({"stream": 1}, "stream"),
        ({"n": 1.5}, "n"),
        ({"logprobs": "yes"}, "logprobs"),
        ({"top_logprobs": 1.5}, "top_logprobs"),
        ({"user": ["a"]}, "user"),
        ({"logit_bias": [1]}, "logit_bias"),
        ({"tools": "x"}, "tools"),
        ({"response_format": 1}, "response_format"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": "a"}, 5]}, "messages[1]"),
        ({"messages": [{"role": "tool", "content": "r", "tool_call_id": 1}]}, "messages[0].tool_call_id"),
    ],
)
def test_wrong_types_name_the_field(fields, param):
    error = invalid_field(**fields)
    assert error.param == param


# --- responses: tool_call / logprob_entry ---------------------------------------------------


def test_tool_call_preserves_id_and_compacts_arguments():
    native = {
        "id": "call_ab12cd34",
        "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Paris", "n": 2}},
    }
    assert tool_call(native) == {
        "id": "call_ab12cd34",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city":"Paris","n":2}'},
    }
    assert native["function"]["arguments"] == {"city": "Paris", "n": 2}  # input not mutated


def test_tool_call_with_index_puts_index_first():
    call = tool_call({"id": "c", "function": {"name": "f", "arguments": {}}}, 3)
    assert call == {"index": 3, "id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    assert list(call) == ["index", "id", "type", "function"]


def test_tool_call_mints_an_id_when_missing():
    call = tool_call({"function": {"name": "f", "arguments": {"a": [1, 2]}}})
    assert call["id"].startswith("call_") and len(call["id"]) == 29
    assert call["function"] == {"name": "f", "arguments": '{"a":[1,2]}'}
    assert tool_call({"function": {"name": "f"}})["id"] != call["id"]


def test_tool_call_string_arguments_are_kept_and_unicode_is_not_escaped():
    assert (
        tool_call({"id": "c", "function": {"name": "f", "arguments": '{"x": 1}'}})["function"]["arguments"]
        == '{"x": 1}'
    )
    assert (
        tool_call({"id": "c", "function": {"name": "f", "arguments": {"city": "Zürich"}}})["function"]["arguments"]
        == '{"city":"Zürich"}'
    )


def test_tool_call_with_missing_function():
    call = tool_call({"id": "c"})
    assert call == {"id": "c", "type": "function", "function": {"name": "", "arguments": "{}"}}


def test_logprob_entry_shape():
    native = {
        "token": "Hi",
        "logprob": -0.25,
        "bytes": [72, 105],
        "top_logprobs": [{"token": "Hi", "logprob": -0.25, "bytes": [72, 105]}, {"token": "Hé", "logprob": -2.0}],
    }
    assert logprob_entry(native) == {
        "token": "Hi",
        "logprob": -0.25,
        "bytes": [72, 105],
        "top_logprobs": [
            {"token": "Hi", "logprob": -0.25, "bytes": [72, 105]},
            {"token": "Hé", "logprob": -2.0, "bytes": [72, 195, 169]},
        ],
    }


def test_logprob_entry_defaults():
    assert logprob_entry({"token": "é"}) == {"token": "é", "logprob": 0.0, "bytes": [195, 169], "top_logprobs": []}
    assert logprob_entry({}) == {"token": "", "logprob": 0.0, "bytes": [], "top_logprobs": []}


# --- responses: chat_choice -----------------------------------------------------------------


def test_chat_choice_content():
    native = {"message": {"role": "assistant", "content": "Hello!"}, "done": True, "done_reason": "stop"}
    assert chat_choice(native, 0, False) == {
        "index": 0,
        "message": {"role": "assistant", "content": "Hello!", "refusal": None},
        "logprobs": None,
        "finish_reason": "stop",
    }


def test_chat_choice_empty_content_is_empty_string():
    assert chat_choice({"message": {"content": ""}, "done_reason": "stop"}, 1, False) == {
        "index": 1,
        "message": {"role": "assistant", "content": "", "refusal": None},
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert chat_choice({}, 0, False)["message"] == {"role": "assistant", "content": "", "refusal": None}


def test_chat_choice_length():
    assert chat_choice({"message": {"content": "cut"}, "done_reason": "length"}, 0, False)["finish_reason"] == "length"


def test_chat_choice_reasoning():
    native = {"message": {"content": "42", "thinking": "6 times 7"}, "done_reason": "stop"}
    assert chat_choice(native, 0, False)["message"] == {
        "role": "assistant",
        "content": "42",
        "refusal": None,
        "reasoning": "6 times 7",
    }


def test_chat_choice_only_tool_calls_has_null_content():
    native = {
        "message": {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_ab12cd34",
                    "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Paris"}},
                },
                {"function": {"index": 1, "name": "get_time", "arguments": {}}},
            ],
        },
        "done_reason": "stop",
    }
    choice = chat_choice(native, 0, False)
    minted = choice["message"]["tool_calls"][1]["id"]
    assert minted.startswith("call_")
    assert choice == {
        "index": 0,
        "message": {
            "role": "assistant",
            "content": None,
            "refusal": None,
            "tool_calls": [
                {
                    "id": "call_ab12cd34",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                },
                {"id": minted, "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
            ],
        },
        "logprobs": None,
        "finish_reason": "tool_calls",
    }


def test_chat_choice_content_and_tool_calls_keeps_content():
    native = {
        "message": {"content": "Checking.", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": {}}}]},
        "done_reason": "stop",
    }
    choice = chat_choice(native, 0, False)
    assert choice["message"]["content"] == "Checking."
    assert choice["finish_reason"] == "tool_calls"


def test_chat_choice_tool_calls_cut_by_length_stay_length():
    native = {
        "message": {"tool_calls": [{"id": "c", "function": {"name": "f", "arguments": {}}}]},
        "done_reason": "length",
    }
    assert chat_choice(native, 0, False)["finish_reason"] == "length"


def test_chat_choice_logprobs():
    native = {
        "message": {"content": "Hi"},
        "done_reason": "stop",
        "logprobs": [
            {
                "token": "H",
                "logprob": -0.1,
                "bytes": [72],
                "top_logprobs": [{"token": "H", "logprob": -0.1, "bytes": [72]}],
            },
            {"token": "i", "logprob": -0.2},
        ],
    }
    assert chat_choice(native, 0, True)["logprobs"] == {
        "content": [
            {
                "token": "H",
                "logprob": -0.1,
                "bytes": [72],
                "top_logprobs": [{"token": "H", "logprob": -0.1, "bytes": [72]}],
            },
            {"token": "i", "logprob": -0.2, "bytes": [105], "top_logprobs": []},
        ],
        "refusal": None,
    }
    assert chat_choice(native, 0, False)["logprobs"] is None
    assert chat_choice({"message": {"content": "x"}}, 0, True)["logprobs"] is None


# --- envelopes ------------------------------------------------------------------------------


def test_chat_chunk_serializes_like_openai():
    stream = ChatStream(0, False)
    stream.feed({"message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop"})
    body = orjson.dumps(choices_envelope("chat.completion.chunk", "id", 1, "m", [stream.finish()]))
    assert b'"delta":{}' in body and b'"finish_reason":"stop"' in body


# --- ChatStream -----------------------------------------------------------------------------


def msg(content="", thinking="", tool_calls=None, **extra) -> dict:
    return native_chat(
        content, thinking, tool_calls, model="llama3", created_at="2024-05-01T12:34:56.123456789Z", **extra
    )


def trailer(done_reason="stop", prompt=26, completion=7, **extra) -> dict:
    return native_chat(
        done_reason=done_reason,
        prompt=prompt,
        completion=completion,
        model="llama3",
        created_at="2024-05-01T12:34:57Z",
        **extra,
    )


def chunk_choice(delta: dict, index: int = 0, finish: str | None = None) -> dict:
    """A streamed choice as OpenAI's chunks carry it."""
    return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}


def test_stream_role_only_on_first_chunk_then_content_deltas():
    stream = ChatStream(0, False)
    assert stream.feed(msg("Hel")) == chunk_choice({"role": "assistant", "content": "Hel"})
    assert stream.feed(msg("lo")) == chunk_choice({"content": "lo"})
    assert stream.done is False
    assert stream.feed(trailer()) is None
    assert stream.done is True
    assert stream.finish() == chunk_choice({}, finish="stop")


def test_stream_empty_first_trailer_still_opens_with_role():
    stream = ChatStream(2, False)
    assert stream.feed(trailer(prompt=5, completion=None)) == chunk_choice({"role": "assistant", "content": ""}, 2)
    assert stream.done
    assert stream.finish() == chunk_choice({}, 2, finish="stop")


def test_stream_empty_intermediate_chunks_are_skipped():
    stream = ChatStream(0, False)
    stream.feed(msg("a"))
    assert stream.feed(msg("")) is None
    assert stream.feed({"message": {}}) is None
    assert stream.feed({}) is None


def test_stream_first_chunk_empty_then_content():
    stream = ChatStream(0, False)
    assert stream.feed(msg("")) == chunk_choice({"role": "assistant", "content": ""})
    assert stream.feed(msg("x"))["delta"] == {"content": "x"}


def test_stream_reasoning_then_content():
    stream = ChatStream(0, False)
    assert stream.feed(msg(thinking="Let me")) == chunk_choice(
        {"role": "assistant", "content": "", "reasoning": "Let me"}
    )
    assert stream.feed(msg(thinking=" think"))["delta"] == {"reasoning": " think"}
    assert stream.feed(msg("Answer", thinking="."))["delta"] == {"reasoning": ".", "content": "Answer"}
    stream.feed(trailer())
    assert stream.finish()["finish_reason"] == "stop"


def test_stream_tool_calls_with_cumulative_index_and_finish_reason():
    stream = ChatStream(0, False)
    assert stream.feed(msg("Checking."))["delta"] == {"role": "assistant", "content": "Checking."}
    first = stream.feed(
        msg(
            tool_calls=[
                {"id": "call_1", "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Paris"}}}
            ]
        )
    )
    call = {"index": 0, "id": "call_1", "type": "function"}
    assert first == chunk_choice(
        {"tool_calls": [{**call, "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]}
    )
    second = stream.feed(
        msg(
            tool_calls=[
                {"id": "call_2", "function": {"index": 0, "name": "get_time", "arguments": {}}},
                {"function": {"index": 1, "name": "get_date", "arguments": {"tz": "UTC"}}},
            ]
        )
    )
    calls = second["delta"]["tool_calls"]
    assert [call["index"] for call in calls] == [1, 2]
    assert calls[0] == {
        "index": 1,
        "id": "call_2",
        "type": "function",
        "function": {"name": "get_time", "arguments": "{}"},
    }
    assert calls[1]["id"].startswith("call_")
    assert calls[1]["function"] == {"name": "get_date", "arguments": '{"tz":"UTC"}'}
    assert stream.tool_calls_sent == 3
    assert stream.feed(trailer("stop")) is None
    assert stream.finish() == chunk_choice({}, finish="tool_calls")


def test_stream_first_chunk_with_tool_calls_has_role():
    stream = ChatStream(0, False)
    choice = stream.feed(msg(tool_calls=[{"id": "c", "function": {"name": "f", "arguments": {}}}]))
    assert choice["delta"] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"index": 0, "id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
    }


def test_stream_tool_calls_cut_by_length():
    stream = ChatStream(0, False)
    stream.feed(msg(tool_calls=[{"id": "c", "function": {"name": "f", "arguments": {}}}]))
    stream.feed(trailer("length"))
    assert stream.finish()["finish_reason"] == "length"


def test_stream_done_chunk_with_content():
    stream = ChatStream(1, False)
    choice = stream.feed(
        {**trailer("length", prompt=3, completion=4), "message": {"role": "assistant", "content": "end"}}
    )
    assert choice == chunk_choice({"role": "assistant", "content": "end"}, 1)
    assert stream.done and stream.done_reason == "length"
    assert stream.finish() == chunk_choice({}, 1, finish="length")


def test_stream_done_without_counts():
    stream = ChatStream(0, False)
    stream.feed(msg("x"))
    stream.feed({"message": {"content": ""}, "done": True})
    assert stream.finish()["finish_reason"] == "stop"


def test_stream_logprobs():
    stream = ChatStream(0, True)
    choice = stream.feed(msg("H", logprobs=[{"token": "H", "logprob": -0.5, "bytes": [72], "top_logprobs": []}]))
    assert choice == {
        "index": 0,
        "delta": {"role": "assistant", "content": "H"},
        "logprobs": {"content": [{"token": "H", "logprob": -0.5, "bytes": [72], "top_logprobs": []}], "refusal": None},
        "finish_reason": None,
    }
    # A done chunk with logprobs but no text is not a bare trailer: its logprobs are delivered.
    choice = stream.feed(trailer(logprobs=[{"token": "", "logprob": -0.1}]))
    assert choice == {
        "index": 0,
        "delta": {},
        "logprobs": {"content": [{"token": "", "logprob": -0.1, "bytes": [], "top_logprobs": []}], "refusal": None},
        "finish_reason": None,
    }


def test_stream_logprobs_ignored_when_not_requested():
    stream = ChatStream(0, False)
    stream.feed(msg("a"))
    assert stream.feed(msg("b", logprobs=[{"token": "b", "logprob": -1.0}]))["logprobs"] is None
    assert stream.feed(trailer(logprobs=[{"token": "", "logprob": -1.0}])) is None
