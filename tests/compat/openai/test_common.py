"""compat.openai.common: field validation, ids, usage, finish reasons, timestamps (pure, no DB)."""

import string
from datetime import UTC, datetime

import pytest

from compat.openai.common import (
    check_logit_bias,
    choices_envelope,
    finish_reason,
    get_bool,
    get_int,
    get_n,
    get_number,
    get_stop,
    get_stream_options,
    get_string,
    new_id,
    new_tool_call_id,
    require_object,
    sampling_options,
    type_name,
    unix_time,
    usage_body,
)
from compat.openai.protocol import error_type
from ollamaweb.core.errors import InvalidRequest
from ollamaweb.core.native import usage_of
from ollamaweb.gateway.estimate import estimate_tokens

ID_CHARS = set(string.ascii_letters + string.digits)


def invalid(fn, *args, **kwargs) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        fn(*args, **kwargs)
    assert info.value.status == 400
    assert error_type(info.value) == "invalid_request_error"
    return info.value


# --- ids ------------------------------------------------------------------------------------


def test_new_id_has_prefix_and_29_random_characters():
    value = new_id("chatcmpl-")
    assert value.startswith("chatcmpl-")
    assert len(value) == len("chatcmpl-") + 29
    assert set(value.removeprefix("chatcmpl-")) <= ID_CHARS


def test_new_id_custom_length():
    value = new_id("cmpl-", length=8)
    assert len(value) == len("cmpl-") + 8


def test_new_id_is_unique():
    assert len({new_id("chatcmpl-") for _ in range(1000)}) == 1000


def test_new_tool_call_id_shape_and_uniqueness():
    ids = {new_tool_call_id() for _ in range(500)}
    assert len(ids) == 500
    for value in ids:
        assert value.startswith("call_")
        assert len(value) == len("call_") + 24
        assert set(value.removeprefix("call_")) <= ID_CHARS


# --- timestamps -----------------------------------------------------------------------------


def test_unix_time_utc_with_nanoseconds():
    expected = int(datetime(2024, 5, 1, 12, 34, 56, tzinfo=UTC).timestamp())
    assert unix_time("2024-05-01T12:34:56.123456789Z", 0) == expected == 1714566896


def test_unix_time_without_fraction():
    assert unix_time("2024-05-01T12:34:56Z", 0) == 1714566896


def test_unix_time_with_short_fraction():
    assert unix_time("2024-05-01T12:34:56.5Z", 0) == 1714566896


def test_unix_time_with_offset_and_nanoseconds():
    """Ollama writes local times with an offset (`/api/tags` modified_at): the offset must count."""
    assert unix_time("2023-11-04T14:56:49.277302595-07:00", 0) == 1699135009
    assert unix_time("2023-11-04T14:56:49-07:00", 0) == 1699135009
    assert unix_time("2023-11-05T03:26:49.1+05:30", 0) == 1699135009


@pytest.mark.parametrize("bad", [None, "", "yesterday", "2024-13-45T99:00:00Z", "2024-05-01T12:34:56.abcZ"])
def test_unix_time_bad_input_gives_default(bad):
    assert unix_time(bad, 1234) == 1234


# --- usage / finish -------------------------------------------------------------------------


def test_usage_of_reads_counts():
    assert usage_of({"prompt_eval_count": 26, "eval_count": 282}) == (26, 282)


def test_usage_of_omitted_counts_are_zero():
    assert usage_of({}) == (0, 0)
    assert usage_of({"eval_count": 3}) == (0, 3)
    assert usage_of({"prompt_eval_count": 5}) == (5, 0)
    assert usage_of({"prompt_eval_count": None, "eval_count": None}) == (0, 0)


def test_usage_body_sums():
    assert usage_body(10, 20) == {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}
    assert usage_body(0, 0) == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


@pytest.mark.parametrize(
    ("done_reason", "tools", "expected"),
    [
        ("stop", False, "stop"),
        ("stop", True, "tool_calls"),
        ("length", False, "length"),
        ("length", True, "length"),
        (None, False, "stop"),
        (None, True, "tool_calls"),
        ("", False, "stop"),
        ("load", False, "stop"),
        ("unload", True, "tool_calls"),
    ],
)
def test_finish_reason(done_reason, tools, expected):
    assert finish_reason(done_reason, tools) == expected


def test_finish_reason_defaults_to_no_tool_calls():
    assert finish_reason("stop") == "stop"


@pytest.mark.parametrize("object_type", ["chat.completion", "chat.completion.chunk", "text_completion"])
def test_choices_envelope(object_type):
    choice = {"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": "stop"}
    usage = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    assert choices_envelope(object_type, "chatcmpl-1", 1700000000, "llama3", [choice], usage) == {
        "id": "chatcmpl-1",
        "object": object_type,
        "created": 1700000000,
        "model": "llama3",
        "system_fingerprint": "fp_ollama",
        "choices": [choice],
        "usage": usage,
    }
    assert "usage" not in choices_envelope(object_type, "cmpl-1", 1, "m", [], None)
    assert "usage" not in choices_envelope(object_type, "cmpl-1", 1, "m", [])


def test_estimate_tokens_rounds_up_by_four_characters():
    assert [estimate_tokens(n) for n in (0, 1, 4, 5, 8, 9)] == [0, 1, 1, 2, 2, 3]


# --- type helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (None, "null"),
        (True, "boolean"),
        (1, "integer"),
        (1.5, "number"),
        ("s", "string"),
        ([], "array"),
        ({}, "object"),
    ],
)
def test_type_name(value, name):
    assert type_name(value) == name


def test_require_object():
    body = {"a": 1}
    assert require_object(body) is body
    for bad in ([], "x", None, 3):
        error = invalid(require_object, bad)
        assert error.param is None
        assert "JSON object" in error.message


def test_get_string():
    assert get_string({"a": "x"}, "a") == "x"
    assert get_string({}, "a") is None
    assert get_string({"a": None}, "a") is None
    assert get_string({"a": ""}, "a") == ""
    error = invalid(get_string, {}, "a", required=True)
    assert (error.param, error.code) == ("a", "missing_required_parameter")
    error = invalid(get_string, {"a": 3}, "a")
    assert (error.param, error.code) == ("a", "invalid_type")
    error = invalid(get_string, {"a": ""}, "a", allow_empty=False)
    assert (error.param, error.code) == ("a", "invalid_value")
    assert invalid(get_string, {"a": 3}, "a", param="outer.a").param == "outer.a"


def test_get_bool():
    assert get_bool({"a": True}, "a") is True
    assert get_bool({"a": False}, "a", True) is False
    assert get_bool({}, "a", "dflt") == "dflt"
    assert get_bool({"a": None}, "a", False) is False
    for bad in (1, "true", [], {}):
        error = invalid(get_bool, {"a": bad}, "a")
        assert (error.param, error.code) == ("a", "invalid_type")
    assert invalid(get_bool, {"a": 1}, "a", param="x.a").param == "x.a"


def test_get_int():
    assert get_int({"a": 5}, "a") == 5
    assert get_int({"a": 5.0}, "a") == 5
    assert isinstance(get_int({"a": 5.0}, "a"), int)
    assert get_int({}, "a") is None
    for bad in (5.5, "5", True, [5]):
        error = invalid(get_int, {"a": bad}, "a")
        assert (error.param, error.code) == ("a", "invalid_type")
    error = invalid(get_int, {"a": 0}, "a", minimum=1)
    assert (error.param, error.code) == ("a", "invalid_value")
    assert "minimum of 1" in error.message
    error = invalid(get_int, {"a": 21}, "a", maximum=20)
    assert "maximum of 20" in error.message
    assert get_int({"a": 20}, "a", minimum=0, maximum=20) == 20


def test_get_number():
    assert get_number({"a": 0.5}, "a") == 0.5
    assert get_number({"a": 1}, "a") == 1
    assert get_number({}, "a") is None
    for bad in ("0.5", True, float("nan"), float("inf"), {}):
        error = invalid(get_number, {"a": bad}, "a")
        assert (error.param, error.code) == ("a", "invalid_type")
    assert invalid(get_number, {"a": -0.1}, "a", minimum=0).code == "invalid_value"
    assert invalid(get_number, {"a": 2.1}, "a", maximum=2).code == "invalid_value"


def test_get_stop():
    assert get_stop({}) is None
    assert get_stop({"stop": None}) is None
    assert get_stop({"stop": "END"}) == ["END"]
    assert get_stop({"stop": ["a", "b"]}) == ["a", "b"]
    assert get_stop({"stop": []}) == []
    for bad in ([1, 2], ["a", 1], 5, {"a": 1}):
        error = invalid(get_stop, {"stop": bad})
        assert (error.param, error.code) == ("stop", "invalid_type")


def test_get_stream_options():
    assert get_stream_options({}, False) is False
    assert get_stream_options({"stream_options": None}, False) is False
    assert get_stream_options({"stream_options": {"include_usage": True}}, True) is True
    assert get_stream_options({"stream_options": {"include_usage": False}}, True) is False
    assert get_stream_options({"stream_options": {}}, True) is False
    assert invalid(get_stream_options, {"stream_options": {"include_usage": True}}, False).param == "stream_options"
    assert invalid(get_stream_options, {"stream_options": "yes"}, True).param == "stream_options"
    error = invalid(get_stream_options, {"stream_options": {"include_usage": "yes"}}, True)
    assert error.param == "stream_options.include_usage"


def test_get_n():
    assert get_n({}, 8) == 1
    assert get_n({"n": 1}, 8) == 1
    assert get_n({"n": 8}, 8) == 8
    error = invalid(get_n, {"n": 9}, 8)
    assert (error.param, error.code) == ("n", "invalid_value")
    assert "at most 8" in error.message
    assert invalid(get_n, {"n": 0}, 8).param == "n"
    assert invalid(get_n, {"n": "2"}, 8).param == "n"


def test_check_logit_bias():
    check_logit_bias({})
    check_logit_bias({"logit_bias": None})
    check_logit_bias({"logit_bias": {}})
    error = invalid(check_logit_bias, {"logit_bias": {"50256": -100}})
    assert (error.param, error.code) == ("logit_bias", "unsupported_parameter")
    error = invalid(check_logit_bias, {"logit_bias": [1]})
    assert (error.param, error.code) == ("logit_bias", "invalid_type")


def test_sampling_options_only_what_was_sent():
    assert sampling_options({}) == {}
    assert sampling_options({"temperature": None, "top_p": None}) == {}


def test_sampling_options_full_mapping():
    body = {
        "temperature": 0.3,
        "top_p": 0.8,
        "frequency_penalty": 0.5,
        "presence_penalty": -0.5,
        "seed": 42,
        "stop": "END",
        "top_k": 40,
        "num_ctx": 8192,
        "min_p": 0.05,
        "repeat_penalty": 1.1,
    }
    assert sampling_options(body) == {
        "temperature": 0.3,
        "top_p": 0.8,
        "frequency_penalty": 0.5,
        "presence_penalty": -0.5,
        "seed": 42,
        "stop": ["END"],
        "top_k": 40,
        "num_ctx": 8192,
        "min_p": 0.05,
        "repeat_penalty": 1.1,
    }


def test_sampling_options_zero_values_are_kept():
    assert sampling_options({"temperature": 0, "top_p": 0, "frequency_penalty": 0, "seed": 0}) == {
        "temperature": 0,
        "top_p": 0,
        "frequency_penalty": 0,
        "seed": 0,
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temperature", -0.1),
        ("temperature", 2.01),
        ("top_p", 1.5),
        ("top_p", -1),
        ("frequency_penalty", 2.5),
        ("presence_penalty", -3),
        ("top_k", -1),
        ("num_ctx", 0),
        ("min_p", -0.5),
        ("repeat_penalty", -1),
    ],
)
def test_sampling_options_ranges(field, value):
    error = invalid(sampling_options, {field: value})
    assert (error.param, error.code) == (field, "invalid_value")


@pytest.mark.parametrize(
    ("field", "value"),
    [("temperature", "hot"), ("top_p", True), ("seed", 1.5), ("seed", "1"), ("top_k", 4.5), ("min_p", "x")],
)
def test_sampling_options_types(field, value):
    error = invalid(sampling_options, {field: value})
    assert (error.param, error.code) == (field, "invalid_type")
