"""compat.openai.messages: OpenAI chat messages → Ollama native messages (pure, no DB)."""

import base64

import pytest

from compat.openai.messages import RemoteImage, convert_messages
from ollamaweb.core.errors import InvalidRequest

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake-image-bytes").decode()
WAV = base64.b64encode(b"RIFF....WAVEfmt ").decode()


def invalid(messages) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        convert_messages(messages)
    assert info.value.status == 400
    return info.value


def user(content) -> dict:
    return {"role": "user", "content": content}


def image_part(url) -> dict:
    return {"type": "image_url", "image_url": {"url": url}}


# --- plain messages -------------------------------------------------------------------------


def test_string_content_roles():
    assert convert_messages(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
        ]
    ) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
    ]


def test_developer_becomes_system():
    assert convert_messages([{"role": "developer", "content": "Rules."}]) == [{"role": "system", "content": "Rules."}]


def test_extra_fields_are_dropped():
    assert convert_messages([{"role": "user", "content": "Hi", "name": "bob", "extra": 1}]) == [
        {"role": "user", "content": "Hi"}
    ]


def test_empty_string_content_is_kept():
    assert convert_messages([user("")]) == [{"role": "user", "content": ""}]


def test_assistant_null_content_is_empty_string():
    assert convert_messages([{"role": "assistant", "content": None}]) == [{"role": "assistant", "content": ""}]
    assert convert_messages([{"role": "assistant"}]) == [{"role": "assistant", "content": ""}]


# --- content parts --------------------------------------------------------------------------


def test_text_parts_are_joined_into_one_message():
    content = [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]
    assert convert_messages([user(content)]) == [{"role": "user", "content": "one\ntwo"}]


def test_input_text_and_refusal_parts():
    content = [{"type": "input_text", "text": "a"}]
    assert convert_messages([user(content)]) == [{"role": "user", "content": "a"}]
    refusal = [{"type": "refusal", "refusal": "I can't."}]
    assert convert_messages([{"role": "assistant", "content": refusal}]) == [
        {"role": "assistant", "content": "I can't."}
    ]


def test_text_and_image_merge_into_one_native_message_with_raw_base64():
    content = [{"type": "text", "text": "What is this?"}, image_part(f"data:image/png;base64,{PNG}")]
    assert convert_messages([user(content)]) == [{"role": "user", "content": "What is this?", "images": [PNG]}]


def test_image_only_message_has_empty_content():
    assert convert_messages([user([image_part(f"data:image/jpeg;base64,{PNG}")])]) == [
        {"role": "user", "content": "", "images": [PNG]}
    ]


def test_several_images_keep_their_order():
    other = base64.b64encode(b"second").decode()
    content = [
        image_part(f"data:image/png;base64,{PNG}"),
        {"type": "text", "text": "compare"},
        image_part(f"data:image/webp;base64,{other}"),
    ]
    assert convert_messages([user(content)]) == [{"role": "user", "content": "compare", "images": [PNG, other]}]


def test_image_url_as_plain_string_and_blank_mime():
    content = [{"type": "image_url", "image_url": f"data:;base64,{PNG}"}]
    assert convert_messages([user(content)]) == [{"role": "user", "content": "", "images": [PNG]}]


def test_data_url_with_extra_parameters_and_detail():
    content = [{"type": "image_url", "image_url": {"url": f"data:image/png;name=x.png;base64,{PNG}", "detail": "low"}}]
    assert convert_messages([user(content)])[0]["images"] == [PNG]


def test_whitespace_in_base64_is_removed():
    wrapped = PNG[:8] + "\n" + PNG[8:16] + " \r\n" + PNG[16:]
    content = [image_part(f"data:image/png;base64,{wrapped}")]
    assert convert_messages([user(content)])[0]["images"] == [PNG]


def test_http_image_urls_become_remote_image_markers():
    content = [
        {"type": "text", "text": "look"},
        image_part("https://example.com/cat.png"),
        image_part("http://example.com/dog.jpg"),
    ]
    assert convert_messages([user("first"), user(content)]) == [
        {"role": "user", "content": "first"},
        {
            "role": "user",
            "content": "look",
            "images": [
                RemoteImage("https://example.com/cat.png", "messages[1].content[1].image_url.url"),
                RemoteImage("http://example.com/dog.jpg", "messages[1].content[2].image_url.url"),
            ],
        },
    ]


def test_input_audio_is_passed_as_image_data():
    content = [{"type": "input_audio", "input_audio": {"data": WAV, "format": "wav"}}]
    assert convert_messages([user(content)]) == [{"role": "user", "content": "", "images": [WAV]}]


@pytest.mark.parametrize(
    "url",
    [
        "data:text/plain;base64,aGVsbG8=",
        "data:image/png,rawbytes",
        "data:image/png;base64",
        "ftp://example.com/a.png",
        "not a url",
        "file:///etc/passwd",
    ],
)
def test_invalid_image_urls(url):
    error = invalid([user([{"type": "text", "text": "x"}, image_part(url)])])
    assert error.param == "messages[0].content[1].image_url.url"
    assert error.code == "invalid_image"


@pytest.mark.parametrize("data", ["not*base64!", "aGk", "a===", "aGVsbG8=extra"])
def test_bad_base64_in_data_url(data):
    error = invalid([user([{"type": "text", "text": "x"}, image_part(f"data:image/png;base64,{data}")])])
    assert error.param == "messages[0].content[1].image_url.url"
    assert error.code == "invalid_image"
    assert "base64" in error.message


@pytest.mark.parametrize("image_url", [None, {}, {"url": ""}, {"url": 5}, ""])
def test_missing_image_url(image_url):
    error = invalid([user([{"type": "image_url", "image_url": image_url}])])
    assert error.param == "messages[0].content[0].image_url.url"


def test_bad_audio():
    assert invalid([user([{"type": "input_audio"}])]).param == "messages[0].content[0].input_audio.data"
    error = invalid([user([{"type": "input_audio", "input_audio": {"data": "@@@"}}])])
    assert (error.param, error.code) == ("messages[0].content[0].input_audio.data", "invalid_image")


def test_unknown_part_type():
    error = invalid([user("a"), user([{"type": "file", "file": {}}])])
    assert (error.param, error.code) == ("messages[1].content[0].type", "invalid_value")


def test_non_object_part():
    error = invalid([user(["just a string"])])
    assert (error.param, error.code) == ("messages[0].content[0]", "invalid_type")


def test_text_part_with_non_string_text():
    assert invalid([user([{"type": "text", "text": 5}])]).param == "messages[0].content[0].text"
    assert invalid([user([{"type": "text"}])]).param == "messages[0].content[0].text"


def test_refusal_part_with_non_string_refusal_names_the_refusal_field():
    error = invalid([{"role": "assistant", "content": [{"type": "refusal", "text": "no"}]}])
    assert error.param == "messages[0].content[0].refusal"


# --- message-level validation ---------------------------------------------------------------


@pytest.mark.parametrize("messages", [None, "hi", {"role": "user"}, 5])
def test_messages_must_be_an_array(messages):
    error = invalid(messages)
    assert (error.param, error.code) == ("messages", "invalid_type")


def test_messages_must_not_be_empty():
    error = invalid([])
    assert (error.param, error.code) == ("messages", "invalid_value")


def test_message_must_be_an_object():
    error = invalid([user("a"), "b"])
    assert (error.param, error.code) == ("messages[1]", "invalid_type")


@pytest.mark.parametrize("role", [None, "robot", "User", 5, ["user"], {"a": 1}])
def test_bad_role(role):
    error = invalid([{"role": role, "content": "x"}])
    assert (error.param, error.code) == ("messages[0].role", "invalid_value")


@pytest.mark.parametrize("role", ["user", "system", "developer", "tool"])
def test_null_content_refused_except_for_assistant(role):
    assert invalid([{"role": role, "content": None}]).param == "messages[0].content"
    assert invalid([{"role": role}]).param == "messages[0].content"


@pytest.mark.parametrize("content", [5, {"text": "x"}, True])
def test_content_of_wrong_type(content):
    error = invalid([user("ok"), user(content)])
    assert (error.param, error.code) == ("messages[1].content", "invalid_type")


# --- assistant reasoning and tool calls -----------------------------------------------------


def test_assistant_reasoning_becomes_thinking():
    assert convert_messages([{"role": "assistant", "content": "42", "reasoning": "think think"}]) == [
        {"role": "assistant", "content": "42", "thinking": "think think"}
    ]
    assert convert_messages([{"role": "assistant", "content": "42", "reasoning_content": "hmm"}]) == [
        {"role": "assistant", "content": "42", "thinking": "hmm"}
    ]


def test_reasoning_ignored_on_user_messages_and_when_empty():
    assert convert_messages([{"role": "user", "content": "q", "reasoning": "x"}]) == [{"role": "user", "content": "q"}]
    assert convert_messages([{"role": "assistant", "content": "a", "reasoning": ""}]) == [
        {"role": "assistant", "content": "a"}
    ]


def test_assistant_tool_calls_parsed_to_objects_with_ids():
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_abc",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris", "unit": "c"}'},
            },
            {"id": "call_def", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
        ],
    }
    assert convert_messages([message]) == [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_abc",
                    "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}},
                },
                {"id": "call_def", "function": {"index": 1, "name": "get_time", "arguments": {}}},
            ],
        }
    ]


def test_tool_calls_with_content_and_reasoning_kept_together():
    message = {
        "role": "assistant",
        "content": "Let me check.",
        "reasoning": "need weather",
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}],
    }
    assert convert_messages([message]) == [
        {
            "role": "assistant",
            "content": "Let me check.",
            "thinking": "need weather",
            "tool_calls": [{"id": "c1", "function": {"index": 0, "name": "f", "arguments": {"a": 1}}}],
        }
    ]


def test_tool_call_without_id_and_with_empty_or_missing_arguments():
    message = {
        "role": "assistant",
        "tool_calls": [
            {"type": "function", "function": {"name": "f", "arguments": ""}},
            {"type": "function", "function": {"name": "g"}},
        ],
    }
    assert convert_messages([message])[0]["tool_calls"] == [
        {"function": {"index": 0, "name": "f", "arguments": {}}},
        {"function": {"index": 1, "name": "g", "arguments": {}}},
    ]


def test_empty_tool_calls_list_is_dropped():
    assert convert_messages([{"role": "assistant", "content": "x", "tool_calls": []}]) == [
        {"role": "assistant", "content": "x"}
    ]


@pytest.mark.parametrize("arguments", ["not json", "[1, 2]", '"a string"', "42", None, [1]])
def test_tool_call_arguments_must_be_a_json_object(arguments):
    message = {
        "role": "assistant",
        "tool_calls": [
            {"id": "ok", "function": {"name": "f", "arguments": "{}"}},
            {"id": "bad", "function": {"name": "g", "arguments": arguments}},
        ],
    }
    error = invalid([user("q"), message])
    assert (error.param, error.code) == ("messages[1].tool_calls[1].function.arguments", "invalid_value")


@pytest.mark.parametrize("call", ["x", {}, {"function": "f"}, {"function": {"name": ""}}, {"function": {"name": 3}}])
def test_tool_call_needs_a_function_name(call):
    error = invalid([{"role": "assistant", "tool_calls": [call]}])
    assert error.param == "messages[0].tool_calls[0].function.name"


def test_tool_calls_must_be_an_array():
    error = invalid([{"role": "assistant", "tool_calls": {"id": "x"}}])
    assert (error.param, error.code) == ("messages[0].tool_calls", "invalid_type")


# --- tool results ---------------------------------------------------------------------------


def _call(call_id, name):
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": "{}"}}


def test_tool_result_name_resolved_from_tool_call_id():
    messages = [
        user("weather and time?"),
        {"role": "assistant", "content": None, "tool_calls": [_call("c1", "get_weather"), _call("c2", "get_time")]},
        {"role": "tool", "tool_call_id": "c2", "content": "12:00"},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ]
    native = convert_messages(messages)
    assert native[2] == {"role": "tool", "content": "12:00", "tool_name": "get_time", "tool_call_id": "c2"}
    assert native[3] == {"role": "tool", "content": "sunny", "tool_name": "get_weather", "tool_call_id": "c1"}


def test_tool_result_explicit_name_wins():
    messages = [
        {"role": "assistant", "tool_calls": [_call("c1", "get_weather")]},
        {"role": "tool", "tool_call_id": "c1", "name": "custom", "content": "x"},
    ]
    assert convert_messages(messages)[1] == {
        "role": "tool",
        "content": "x",
        "tool_name": "custom",
        "tool_call_id": "c1",
    }


def test_tool_result_name_only():
    assert convert_messages([{"role": "tool", "name": "f", "content": "r"}]) == [
        {"role": "tool", "content": "r", "tool_name": "f"}
    ]


def test_tool_result_with_unknown_call_id_keeps_the_id_only():
    assert convert_messages([{"role": "tool", "tool_call_id": "nope", "content": "r"}]) == [
        {"role": "tool", "content": "r", "tool_call_id": "nope"}
    ]


def test_tool_result_resolution_uses_the_latest_call_with_that_id():
    messages = [
        {"role": "assistant", "tool_calls": [_call("c1", "first")]},
        {"role": "tool", "tool_call_id": "c1", "content": "a"},
        {"role": "assistant", "tool_calls": [_call("c1", "second")]},
        {"role": "tool", "tool_call_id": "c1", "content": "b"},
    ]
    native = convert_messages(messages)
    assert native[1]["tool_name"] == "first"
    assert native[3]["tool_name"] == "second"


def test_tool_result_before_its_call_is_not_resolved():
    messages = [
        {"role": "tool", "tool_call_id": "c1", "content": "early"},
        {"role": "assistant", "tool_calls": [_call("c1", "f")]},
    ]
    assert convert_messages(messages)[0] == {"role": "tool", "content": "early", "tool_call_id": "c1"}


def test_tool_result_with_array_content_keeps_id_and_name():
    messages = [
        {"role": "assistant", "tool_calls": [_call("c1", "f")]},
        {
            "role": "tool",
            "tool_call_id": "c1",
            "content": [{"type": "text", "text": "part1"}, {"type": "text", "text": "2"}],
        },
    ]
    assert convert_messages(messages)[1] == {
        "role": "tool",
        "content": "part1\n2",
        "tool_name": "f",
        "tool_call_id": "c1",
    }


def test_tool_call_id_must_be_a_string():
    assert invalid([{"role": "tool", "tool_call_id": 5, "content": "r"}]).param == "messages[0].tool_call_id"
