"""Native request validation and pass-through, answer rendering and error bodies (pure)."""

import re

import pytest

from compat.ollama import native
from ollamaweb.core.errors import InvalidRequest

FULL_CHAT = {
    "model": "gpt-4o",
    "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "what is this?", "images": ["iVBORw0KGgo="]},
        {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]},
        {"role": "tool", "content": "42", "tool_name": "f", "tool_call_id": "call_1"},
    ],
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
    "format": {"type": "object", "properties": {"a": {"type": ["string", "null"]}}},
    "options": {"temperature": 0.2, "num_ctx": 8192, "seed": 7, "stop": ["\n\n"]},
    "think": "high",
    "keep_alive": "10m",
    "logprobs": True,
    "top_logprobs": 3,
    "truncate": False,
    "shift": False,
    "some_future_field": {"x": 1},
}


def test_chat_passes_every_field_through_without_model():
    model, payload, stream = native.chat_request(FULL_CHAT)
    assert model == "gpt-4o" and stream is True
    expected = {k: v for k, v in FULL_CHAT.items() if k != "model"}
    assert payload == {**expected, "stream": True}
    assert "model" not in payload


def test_chat_stream_false_is_sent_to_the_backend_explicitly():
    _, payload, stream = native.chat_request({"model": "m", "messages": [], "stream": False})
    assert stream is False and payload == {"messages": [], "stream": False}


def test_chat_without_messages_is_a_load_request():
    _, payload, _ = native.chat_request({"model": "m", "keep_alive": 0})
    assert payload == {"keep_alive": 0, "stream": True}


GENERATE = {
    "model": "llama3",
    "prompt": "def f(",
    "suffix": "return 1",
    "system": "s",
    "template": "{{ .Prompt }}",
    "context": [1, 2, 3],
    "raw": True,
    "format": "json",
    "images": ["aGk="],
    "options": {"num_predict": 5},
    "think": False,
    "keep_alive": -1,
    "logprobs": True,
    "stream": False,
}


def test_generate_passes_every_field_through():
    model, payload, stream = native.generate_request(GENERATE)
    assert model == "llama3" and stream is False
    assert payload == {k: v for k, v in GENERATE.items() if k != "model"}


def test_embed_passes_fields_and_never_streams():
    body = {"model": "all-minilm", "input": ["a", "b"], "truncate": False, "dimensions": 64, "keep_alive": "1m"}
    model, payload = native.embed_request(body)
    assert model == "all-minilm" and payload == {
        "input": ["a", "b"],
        "truncate": False,
        "dimensions": 64,
        "keep_alive": "1m",
    }
    assert native.embed_request({"model": "e", "input": "one"})[1] == {"input": "one"}


def test_legacy_embeddings_become_an_embed_call():
    model, payload = native.embeddings_request({"model": "e", "prompt": "hello", "options": {"num_ctx": 512}})
    assert model == "e" and payload == {"input": ["hello"], "options": {"num_ctx": 512}}
    assert native.embeddings_request({"model": "e", "prompt": ""})[1] == {"input": []}
    assert native.embeddings_request({"model": "e"})[1] == {"input": []}


def test_legacy_embeddings_answer_shape():
    assert native.render_embeddings({"model": "e", "embeddings": [[0.1, 0.2]], "prompt_eval_count": 2}) == {
        "embedding": [0.1, 0.2]
    }
    assert native.render_embeddings({"model": "e", "embeddings": []}) == {"embedding": []}


@pytest.mark.parametrize(
    "parse, body, message, param",
    [
        (native.chat_request, [], "must be a JSON object", None),
        (native.chat_request, {"messages": []}, "model is required", "model"),
        (native.chat_request, {"model": ""}, "model is required", "model"),
        (native.generate_request, {"model": 3}, "invalid model name", "model"),
        (native.chat_request, {"model": "m", "stream": "yes"}, "stream must be true or false", "stream"),
        (native.chat_request, {"model": "m", "options": [1]}, "options must be a JSON object", "options"),
        (native.chat_request, {"model": "m", "messages": {}}, "messages must be an array", "messages"),
        (native.chat_request, {"model": "m", "messages": ["hi"]}, "messages[0] must be an object", "messages[0]"),
        (
            native.chat_request,
            {"model": "m", "messages": [{"content": "x"}]},
            "messages[0].role is required",
            "messages[0].role",
        ),
        (
            native.chat_request,
            {"model": "m", "messages": [{"role": "user", "content": [{"type": "text"}]}]},
            "messages[0].content must be a string",
            "messages[0].content",
        ),
        (
            native.chat_request,
            {"model": "m", "messages": [{"role": "user", "images": "abc"}]},
            "images must be an array",
            "messages[0].images",
        ),
        (native.chat_request, {"model": "m", "tools": {}}, "tools must be an array", "tools"),
        (native.generate_request, {"model": "m", "prompt": ["a"]}, "prompt must be a string", "prompt"),
        (native.generate_request, {"model": "m", "context": ["a"]}, "context must be an array of integers", "context"),
        (native.embed_request, {"model": "m", "input": [1, 2]}, "invalid input type", "input"),
        (native.embed_request, {"model": "m", "input": {"a": 1}}, "invalid input type", "input"),
        (native.embed_request, {"model": "m", "dimensions": -1}, "dimensions must be a positive integer", "dimensions"),
        (native.embeddings_request, {"model": "m", "prompt": ["a"]}, "prompt must be a string", "prompt"),
    ],
)
def test_invalid_requests_get_a_400_naming_the_field(parse, body, message, param):
    with pytest.raises(InvalidRequest, match=re.escape(message)) as caught:
        parse(body)
    assert caught.value.status == 400 and caught.value.param == param


def test_render_echoes_the_requested_model_and_keeps_everything_else():
    result = {
        "model": "qwen3:8b",
        "created_at": "2026-08-04T08:52:19Z",
        "message": {"role": "assistant", "content": "hi", "thinking": "hm"},
        "done": True,
        "done_reason": "stop",
        "total_duration": 5,
        "prompt_eval_count": 26,
        "eval_count": 2,
    }
    assert native.render(result, "gpt-4o") == {**result, "model": "gpt-4o"}
    assert result["model"] == "qwen3:8b"  # not modified in place


def test_error_body_is_ollamas_shape():
    assert native.error_body("model 'x' not found") == {"error": "model 'x' not found"}
    assert native.error_body("no key", "https://gw/keys/ollama/") == {
        "error": "no key",
        "signin_url": "https://gw/keys/ollama/",
    }


def test_show_accepts_model_or_the_legacy_name():
    assert native.show_request({"model": "m", "verbose": True}) == ("m", {"verbose": True})
    assert native.show_request({"name": "m"}) == ("m", {})
    with pytest.raises(InvalidRequest, match="model is required"):
        native.show_request({})


def test_progress_requests_stream_by_default():
    assert native.progress_request({"model": "llama3", "insecure": True}) == (
        "llama3",
        {"insecure": True, "stream": True},
        True,
    )
    assert native.progress_request({"name": "llama3", "stream": False}) == ("llama3", {"stream": False}, False)
    create = {"model": "mine", "from": "llama3", "system": "be kind", "parameters": {"temperature": 0}}
    assert native.progress_request(create)[1] == {
        "from": "llama3",
        "system": "be kind",
        "parameters": {"temperature": 0},
        "stream": True,
    }


def test_copy_and_delete_requests():
    assert native.copy_request({"source": "llama3", "destination": "mine"}) == ("llama3", "mine")
    with pytest.raises(InvalidRequest, match='destination "" is invalid'):
        native.copy_request({"source": "llama3"})
    assert native.delete_request({"name": "old"}) == "old"
    with pytest.raises(InvalidRequest, match="model is required"):
        native.delete_request({})


def test_blob_digests():
    good = "sha256:" + "ab" * 32
    assert native.blob_digest(good) == good
    for bad in ["sha256:abc", "md5:" + "ab" * 32, "sha256:" + "AB" * 32, "sha256-" + "ab" * 32]:
        with pytest.raises(InvalidRequest, match="invalid digest format"):
            native.blob_digest(bad)
