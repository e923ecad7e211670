"""ollamaweb in front of the embedded engine: real inference through the real server and client."""

import base64
import json
import math
import struct

import pytest

from ollamaweb.usage.models import RequestLog
from tests.conftest import settle_logs
from tests.engine_process import chatml, prompt_tokens, require_engine_packages

require_engine_packages()

pytestmark = pytest.mark.realmodel
CHAT, EMBED = "smollm2:135m", "all-minilm"
SYSTEM = "You are a terse assistant."
QUESTION = [{"role": "user", "content": "Name three colors."}]


def test_chat_gives_real_text_and_exact_usage(real, client):
    """Usage is the engine's own tokenizer count: the ChatML prompt, and one token per logprob."""
    completion = client.chat.completions.create(
        model=CHAT,
        messages=[{"role": "system", "content": SYSTEM}, *QUESTION],
        max_tokens=24,
        temperature=0,
        logprobs=True,
    )
    text = completion.choices[0].message.content
    assert text.strip() and completion.choices[0].finish_reason in ("stop", "length")
    prompt = chatml(("system", SYSTEM), ("user", QUESTION[0]["content"]))
    assert completion.usage.prompt_tokens == prompt_tokens(CHAT, prompt)
    assert completion.usage.completion_tokens == len(completion.choices[0].logprobs.content)
    settle_logs(real)
    log = RequestLog.objects.get()
    assert (log.prompt_tokens, log.completion_tokens) == (
        completion.usage.prompt_tokens,
        completion.usage.completion_tokens,
    )
    assert log.usage_source == "measured"


def test_streaming_matches_non_streaming_with_the_same_seed(real, client):
    kwargs = {"model": CHAT, "messages": QUESTION, "max_tokens": 20, "seed": 42, "temperature": 0.7}
    whole = client.chat.completions.create(**kwargs).choices[0].message.content
    chunks = list(client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kwargs))
    streamed = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert streamed == whole
    assert chunks[-1].usage.completion_tokens > 0


def test_seed_reproduces_the_same_text(real, client):
    kwargs = {"model": CHAT, "messages": QUESTION, "max_tokens": 16, "seed": 123, "temperature": 1.0}
    first = client.chat.completions.create(**kwargs).choices[0].message.content
    second = client.chat.completions.create(**kwargs).choices[0].message.content
    assert first == second


def test_json_mode_and_json_schema_give_valid_json(real, client):
    loose = client.chat.completions.create(
        model=CHAT, messages=[{"role": "user", "content": "Describe a cat as JSON."}],
        response_format={"type": "json_object"}, max_tokens=400, temperature=0,
    )  # fmt: skip
    json.loads(loose.choices[0].message.content)
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    strict = client.chat.completions.create(
        model=CHAT, messages=[{"role": "user", "content": "Invent a person."}], max_tokens=400, temperature=0,
        response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": schema}},
    )  # fmt: skip
    person = json.loads(strict.choices[0].message.content)
    assert isinstance(person["name"], str) and isinstance(person["age"], int)


def test_logprobs_cover_the_generated_tokens(real, client):
    completion = client.chat.completions.create(
        model=CHAT, messages=QUESTION, max_tokens=8, logprobs=True, top_logprobs=3
    )
    entries = completion.choices[0].logprobs.content
    assert len(entries) == completion.usage.completion_tokens
    assert "".join(entry.token for entry in entries) == completion.choices[0].message.content
    assert all(entry.logprob <= 0 and len(entry.top_logprobs) == 3 for entry in entries)


def test_embeddings_put_similar_sentences_closer(real, client):
    texts = ["The cat sits on the mat.", "A cat is sitting on a rug.", "Quarterly revenue grew by ten percent."]
    vectors = [item.embedding for item in client.embeddings.create(model=EMBED, input=texts).data]

    def cosine(a, b):
        return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))

    assert len(vectors[0]) == 384
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2]) + 0.2
    encoded = client.embeddings.create(model=EMBED, input=texts[0], encoding_format="base64").data[0].embedding
    decoded = struct.unpack("<384f", base64.b64decode(encoded))
    assert decoded == pytest.approx(vectors[0], abs=1e-6)


def test_legacy_completions_on_the_base_model(real, client):
    completion = client.completions.create(
        model="gemma3:270m", prompt="The capital of France is", max_tokens=5, temperature=0
    )
    assert completion.choices[0].text
    assert completion.usage.completion_tokens <= 5
