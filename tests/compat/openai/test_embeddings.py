"""compat.openai.embeddings: /v1/embeddings ⇄ /api/embed (pure, no DB)."""

import base64
import struct

import pytest

from compat.openai.embeddings import (
    EmbeddingsRequest,
    embeddings_body,
    encode_base64,
    parse_embeddings_request,
)
from ollamaweb.core.errors import InvalidRequest


def parse(**fields) -> EmbeddingsRequest:
    return parse_embeddings_request({"model": "all-minilm", "input": "hello", **fields})


def invalid(body) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        parse_embeddings_request(body)
    assert info.value.status == 400
    return info.value


def invalid_field(**fields) -> InvalidRequest:
    return invalid({"model": "all-minilm", "input": "hello", **fields})


# --- request --------------------------------------------------------------------------------


def test_string_input():
    assert parse() == EmbeddingsRequest(
        model="all-minilm",
        inputs=["hello"],
        native={"truncate": True},
        encoding_format="float",
        client_user="",
    )


def test_empty_string_input_is_one_input():
    assert parse(input="").inputs == [""]


def test_list_input():
    embeddings = parse(input=["a", "b", ""])
    assert embeddings.inputs == ["a", "b", ""]
    assert (embeddings.inputs, embeddings.token_ids) == (["a", "b", ""], False)
    assert embeddings.native == {"truncate": True}


def test_dimensions_and_user():
    embeddings = parse(dimensions=256, user="u-1")
    assert embeddings.native == {"truncate": True, "dimensions": 256}
    assert embeddings.client_user == "u-1"
    assert invalid_field(dimensions=0).param == "dimensions"
    assert invalid_field(dimensions="256").param == "dimensions"
    assert invalid_field(user=1).param == "user"


@pytest.mark.parametrize("value, inputs", [([1, 2, 3], [[1, 2, 3]]), ([[1, 2], [3, 4]], [[1, 2], [3, 4]])])
def test_token_inputs_are_kept_for_decoding(value, inputs):
    embeddings = parse_embeddings_request({"model": "m", "input": value})
    assert (embeddings.inputs, embeddings.token_ids) == (inputs, True)


@pytest.mark.parametrize("value", [[[]], [1, "a"], [[1], "a"], [True, 2], [[1.5]]])
def test_mixed_or_empty_token_inputs_are_refused(value):
    assert invalid_field(input=value).param == "input"


def test_empty_list_input():
    error = invalid_field(input=[])
    assert (error.param, error.code) == ("input", "invalid_value")


def test_missing_input():
    error = invalid({"model": "all-minilm"})
    assert (error.param, error.code) == ("input", "missing_required_parameter")
    assert invalid_field(input=None).param == "input"


@pytest.mark.parametrize("value", [5, {"text": "x"}, ["a", 1], [True, False], ["a", ["b"]]])
def test_bad_input_types(value):
    error = invalid_field(input=value)
    assert (error.param, error.code) == ("input", "invalid_type")


def test_model_required():
    assert invalid({"input": "x"}).param == "model"
    assert invalid({"model": "", "input": "x"}).param == "model"


@pytest.mark.parametrize("body", [[], "x", None])
def test_body_must_be_an_object(body):
    invalid(body)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "float"),
        ("", "float"),
        ("float", "float"),
        ("FLOAT", "float"),
        ("base64", "base64"),
        ("Base64", "base64"),
    ],
)
def test_encoding_format(value, expected):
    assert parse(encoding_format=value).encoding_format == expected


@pytest.mark.parametrize("value", ["json", "hex", "invalid_format"])
def test_invalid_encoding_format(value):
    error = invalid_field(encoding_format=value)
    assert (error.param, error.code) == ("encoding_format", "invalid_value")
    assert repr(value) in error.message


def test_encoding_format_wrong_type():
    error = invalid_field(encoding_format=1)
    assert (error.param, error.code) == ("encoding_format", "invalid_type")


# --- response -------------------------------------------------------------------------------


def test_encode_base64_is_little_endian_float32():
    assert encode_base64([0.1, -0.2, 0.3]) == "zczMPc3MTL6amZk+"
    assert encode_base64([0.1, 0.2]) == "zczMPc3MTD4="
    assert encode_base64([0.3, 0.4]) == "mpmZPs3MzD4="
    assert encode_base64([0.5, 0.6]) == "AAAAP5qZGT8="
    assert encode_base64([]) == ""


def test_encode_base64_round_trip():
    vector = [1.0, -2.5, 0.125, 3.0e-5, 42.0]
    raw = base64.b64decode(encode_base64(vector))
    assert len(raw) == 20
    assert list(struct.unpack("<5f", raw)) == pytest.approx(vector, rel=1e-6)


NATIVE = {
    "model": "all-minilm",
    "embeddings": [[0.1, -0.2, 0.3], [0.5, 0.6]],
    "total_duration": 14143917,
    "load_duration": 1019500,
    "prompt_eval_count": 8,
}


def test_embeddings_body_float():
    assert embeddings_body(NATIVE, "my-alias", "float") == {
        "object": "list",
        "data": [
            {"object": "embedding", "embedding": [0.1, -0.2, 0.3], "index": 0},
            {"object": "embedding", "embedding": [0.5, 0.6], "index": 1},
        ],
        "model": "my-alias",
        "usage": {"prompt_tokens": 8, "total_tokens": 8},
    }


def test_embeddings_body_base64():
    assert embeddings_body(NATIVE, "all-minilm", "base64")["data"] == [
        {"object": "embedding", "embedding": "zczMPc3MTL6amZk+", "index": 0},
        {"object": "embedding", "embedding": "AAAAP5qZGT8=", "index": 1},
    ]


def test_embeddings_body_empty_and_no_counts():
    assert embeddings_body({"model": "m"}, "m", "float") == {
        "object": "list",
        "data": [],
        "model": "m",
        "usage": {"prompt_tokens": 0, "total_tokens": 0},
    }
    assert embeddings_body({"embeddings": None, "prompt_eval_count": None}, "m", "base64")["data"] == []
