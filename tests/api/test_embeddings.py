"""POST /v1/embeddings end to end: the openai client (and raw HTTP) → gateway → fake Ollama /api/embed."""

import base64
import struct

import httpx
import openai
import pytest

from tests.conftest import assert_logged, only_log
from tests.fake_ollama import _embedding


def fake_vector(text, dimensions=None):
    """What the fake Ollama answers for `text` (its embeddings are deterministic)."""
    return _embedding(text, 384, dimensions)


def float32(values):
    return list(struct.unpack(f"<{len(values)}f", struct.pack(f"<{len(values)}f", *values)))


def embed_raw(gateway, secret, **body):
    response = httpx.post(
        gateway.url + "/v1/embeddings", json=body, headers={"Authorization": f"Bearer {secret}"}, timeout=20
    )
    return response


def embed_requests(fake):
    return [request.json for request in fake.requests if request.path == "/api/embed"]


def test_string_input_gives_the_backend_vector(client, gateway, fake_ollama):
    result = client.embeddings.create(model="all-minilm", input="why is the sky blue?", encoding_format="float")

    assert result.object == "list"
    assert result.model == "all-minilm"
    assert len(result.data) == 1
    assert (result.data[0].object, result.data[0].index) == ("embedding", 0)
    assert result.data[0].embedding == fake_vector("why is the sky blue?")
    assert result.usage.prompt_tokens == result.usage.total_tokens == 5
    native = embed_requests(fake_ollama)[-1]
    assert native["model"] == "all-minilm"
    assert native["input"] == ["why is the sky blue?"]
    assert "dimensions" not in native
    assert_logged(
        gateway, endpoint="embeddings", requested_model="all-minilm", status=200, prompt_tokens=5, completion_tokens=0
    )


def test_list_input_keeps_order_and_sums_usage(client, fake_ollama):
    texts = ["first text", "the second one here", "third"]
    result = client.embeddings.create(model="all-minilm", input=texts, encoding_format="float")
    assert [item.index for item in result.data] == [0, 1, 2]
    assert [item.embedding for item in result.data] == [fake_vector(text) for text in texts]
    assert result.usage.prompt_tokens == 2 + 4 + 1
    assert embed_requests(fake_ollama)[-1]["input"] == texts


def test_base64_encoding_decodes_to_the_float_values(gateway, api_key, fake_ollama):
    texts = ["why is the sky blue?", "why is the grass green?"]
    as_float = embed_raw(gateway, api_key[1], model="all-minilm", input=texts, encoding_format="float").json()
    as_base64 = embed_raw(gateway, api_key[1], model="all-minilm", input=texts, encoding_format="base64").json()

    for float_item, base64_item in zip(as_float["data"], as_base64["data"], strict=True):
        encoded = base64_item["embedding"]
        assert isinstance(encoded, str)
        raw = base64.b64decode(encoded, validate=True)
        assert len(raw) == 4 * 384  # little-endian float32
        decoded = list(struct.unpack("<384f", raw))
        assert decoded == float32(float_item["embedding"])
        assert base64_item["index"] == float_item["index"]
    assert as_base64["usage"] == as_float["usage"]


def test_openai_client_default_base64_round_trip(client, fake_ollama):
    """Without encoding_format the Python client asks for base64 and decodes it itself."""
    result = client.embeddings.create(model="all-minilm", input=["a b c"])
    assert embed_requests(fake_ollama)[-1]["input"] == ["a b c"]
    assert result.data[0].embedding == float32(fake_vector("a b c"))


def test_dimensions_are_forwarded_and_honoured(client, fake_ollama):
    result = client.embeddings.create(
        model="all-minilm", input="shorter please", dimensions=64, encoding_format="float"
    )
    assert embed_requests(fake_ollama)[-1]["dimensions"] == 64
    vector = result.data[0].embedding
    assert len(vector) == 64
    assert vector == fake_vector("shorter please", 64)
    assert abs(sum(value * value for value in vector) - 1.0) < 1e-9  # re-normalised


def test_token_array_input_is_read_back_into_text(client, fake_ollama):
    """cl100k_base ids, as LangChain's OpenAIEmbeddings sends them, reach Ollama as the original text."""
    sky, grass = [35734, 374, 279, 13180, 6437, 30], [35734, 374, 279, 16763, 6307, 30]
    by_tokens = client.embeddings.create(model="all-minilm", input=[sky, grass], encoding_format="float")
    assert embed_requests(fake_ollama)[-1]["input"] == ["why is the sky blue?", "why is the grass green?"]
    by_text = client.embeddings.create(
        model="all-minilm", input=["why is the sky blue?", "why is the grass green?"], encoding_format="float"
    )
    assert [d.embedding for d in by_tokens.data] == [d.embedding for d in by_text.data]
    single = client.embeddings.create(model="all-minilm", input=sky, encoding_format="float")
    assert single.data[0].embedding == by_text.data[0].embedding


def test_token_ids_outside_the_vocabulary_are_refused(client, fake_ollama):
    with pytest.raises(openai.BadRequestError) as error:
        client.embeddings.create(model="all-minilm", input=[[1, 2, 10_000_000]], encoding_format="float")
    assert error.value.body["param"] == "input"
    assert "cl100k_base" in error.value.body["message"]
    assert embed_requests(fake_ollama) == []


def test_bad_encoding_format_and_empty_input(gateway, api_key, fake_ollama):
    response = embed_raw(gateway, api_key[1], model="all-minilm", input="x", encoding_format="int8")
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "encoding_format"
    response = embed_raw(gateway, api_key[1], model="all-minilm", input=[])
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "input"
    assert embed_requests(fake_ollama) == []


def test_unknown_model_is_not_found(client, fake_ollama):
    with pytest.raises(openai.NotFoundError) as error:
        client.embeddings.create(model="no-such-embedder", input="x", encoding_format="float")
    assert "no-such-embedder" in error.value.body["message"]


def test_user_is_recorded_in_the_log(client, gateway, fake_ollama):
    client.embeddings.create(model="all-minilm", input="hello", user="end-user-99", encoding_format="float")
    assert only_log(gateway).client_user == "end-user-99"
