"""Real-model tests of the optional engine (engine/): Ollama's native API over llama.cpp.

Run alone, without Django: .venv/bin/python -m pytest -p no:django --noconftest tests/engine/test_engine.py
Skipped unless the engine's dependencies are installed (bash engine/install.sh .venv/bin/python).
"""

import asyncio
import json
import math
import re
import time

import httpx
import pytest

INSTALL_HINT = "engine dependencies not installed (bash engine/install.sh .venv/bin/python)"
llama_cpp = pytest.importorskip("llama_cpp", reason=INSTALL_HINT)
pytest.importorskip("onnxruntime", reason=INSTALL_HINT)
tokenizers = pytest.importorskip("tokenizers", reason=INSTALL_HINT)

from engine.models import discover  # noqa: E402  (needs the packages checked above)
from tests.engine_process import running_engine  # noqa: E402

pytestmark = pytest.mark.realmodel

CHAT, BASE, EMBED = "smollm2:135m", "gemma3:270m", "all-minilm:latest"
CATALOG = discover(models_dir="")
if not {CHAT, BASE, EMBED} <= set(CATALOG):
    pytest.skip(f"model packages missing, found only {sorted(CATALOG)}; {INSTALL_HINT}", allow_module_level=True)

SYSTEM = "You are a terse assistant."
QUESTION = "Name three colors."
# SmolLM2's ChatML template, written out so the engine's rendering is checked too.
CHATML_PROMPT = (
    f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{QUESTION}<|im_end|>\n<|im_start|>assistant\n"
)
METRICS = (
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """The engine in a subprocess on a free loopback port; yields its base URL."""
    with running_engine(tmp_path_factory.mktemp("engine")) as url:
        yield url


@pytest.fixture(scope="module")
def client(engine):
    with httpx.Client(base_url=engine, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def vocab():
    """SmolLM2's own tokenizer, to check the engine's token counts."""
    return llama_cpp.Llama(model_path=str(CATALOG[CHAT].files[0]), vocab_only=True, verbose=False)


def _chat(client, content=QUESTION, **fields):
    body = {"model": CHAT, "messages": [{"role": "user", "content": content}], "stream": False} | fields
    response = client.post("/api/chat", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def _ndjson(response) -> list[dict]:
    assert response.headers["content-type"] == "application/x-ndjson"
    assert response.text.endswith("\n")
    return [json.loads(line) for line in response.text.splitlines()]


def _cosine(a, b) -> float:
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def test_root_version_and_unknown_paths(client):
    root = client.get("/")
    assert (root.status_code, root.text) == (200, "Ollama is running")
    version = client.get("/api/version")
    assert version.headers["content-type"] == "application/json; charset=utf-8"
    assert re.fullmatch(r"\d+\.\d+\.\d+", version.json()["version"])
    missing = client.get("/api/nope")
    assert (missing.status_code, missing.text) == (404, "404 page not found")
    assert client.get("/api/chat").status_code == 405


def test_tags_describe_every_model(client):
    models = {entry["name"]: entry for entry in client.get("/api/tags").json()["models"]}
    assert {CHAT, BASE, EMBED} <= set(models)
    chat = models[CHAT]
    assert chat["model"] == CHAT and chat["size"] > 90_000_000 and len(chat["digest"]) == 64
    assert chat["details"] == {
        "parent_model": "",
        "format": "gguf",
        "family": "llama",
        "families": ["llama"],
        "parameter_size": "134.52M",
        "quantization_level": "Q4_1",
    }
    assert chat["capabilities"] == ["completion"]
    assert models[BASE]["details"]["quantization_level"] == "Q4_K_M"
    assert models[EMBED]["capabilities"] == ["embedding"]
    assert models[EMBED]["details"]["family"] == "bert"


def test_show(client):
    shown = client.post("/api/show", json={"model": "smollm2:135m"}).json()
    assert shown["model_info"]["llama.context_length"] == 8192
    assert shown["model_info"]["general.architecture"] == "llama"
    assert shown["capabilities"] == ["completion"]
    assert "<|im_start|>" in shown["template"]
    assert client.post("/api/show", json={"model": "all-minilm"}).json()["model_info"]["bert.context_length"] == 256
    assert client.post("/api/show", json={}).json() == {"error": "model is required"}
    missing = client.post("/api/show", json={"model": "nope"})
    assert (missing.status_code, missing.json()) == (404, {"error": "model 'nope' not found"})


def test_chat_streams_ndjson_with_real_token_counts(client, vocab):
    body = {
        "model": CHAT,
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}],
        "logprobs": True,
        "options": {"num_predict": 48},
    }
    lines = _ndjson(client.post("/api/chat", json=body))
    *pieces, final = lines
    assert pieces and all(line["done"] is False and line["message"]["role"] == "assistant" for line in pieces)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", line["created_at"]) for line in lines)
    assert final["done"] is True and final["done_reason"] in ("stop", "length")
    assert final["message"] == {"role": "assistant", "content": ""}
    assert all(isinstance(final[key], int) and final[key] > 0 for key in METRICS)
    assert final["total_duration"] >= final["prompt_eval_duration"] + final["eval_duration"]
    assert final["prompt_eval_count"] == len(vocab.tokenize(CHATML_PROMPT.encode(), add_bos=True, special=True))
    tokens = [entry for line in pieces for entry in line["logprobs"]]
    assert final["eval_count"] == len(tokens)
    assert "".join(entry["token"] for entry in tokens) == "".join(line["message"]["content"] for line in pieces)


def test_chat_without_streaming(client):
    response = client.post(
        "/api/chat",
        json={"model": CHAT, "messages": [{"role": "user", "content": "Hi"}], "stream": False},
    )
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    reply = response.json()
    assert reply["done"] is True and reply["message"]["role"] == "assistant" and reply["message"]["content"]
    assert "logprobs" not in reply


def test_same_seed_gives_same_text(client):
    options = {"seed": 42, "temperature": 0.9, "num_predict": 24}
    first = _chat(client, "Tell me a story.", options=options)["message"]["content"]
    assert _chat(client, "Write a haiku.", options={"num_predict": 8})  # changes the model's cached prompt
    assert _chat(client, "Tell me a story.", options=options)["message"]["content"] == first


def test_num_predict_ends_with_length(client):
    reply = _chat(client, "Write a long poem about the sea.", options={"num_predict": 5})
    assert (reply["done_reason"], reply["eval_count"]) == ("length", 5)


def test_stop_string_ends_the_reply_before_it(client):
    options = {"temperature": 0, "num_predict": 32}
    full = _chat(client, "List the days of the week.", options=options)["message"]["content"]
    words = full.split()
    assert len(words) > 4, full
    stop = words[3]
    reply = _chat(client, "List the days of the week.", options=options | {"stop": [stop]})
    assert reply["done_reason"] == "stop"
    assert reply["message"]["content"] == full[: full.index(stop)]


def test_format_json_gives_json(client):
    reply = _chat(client, "Describe a cat as JSON.", format="json", options={"temperature": 0, "num_predict": 96})
    assert isinstance(json.loads(reply["message"]["content"]), dict | list)


def test_format_schema_gives_matching_json(client):
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    reply = _chat(client, "Invent a cat with a name and an age.", format=schema, options={"num_predict": 64})
    cat = json.loads(reply["message"]["content"])
    assert isinstance(cat["name"], str) and isinstance(cat["age"], int)


def test_logprobs_shape(client):
    reply = _chat(client, "Hi", logprobs=True, top_logprobs=3, options={"num_predict": 6})
    assert len(reply["logprobs"]) == reply["eval_count"]
    for entry in reply["logprobs"]:
        assert set(entry) == {"token", "logprob", "bytes", "top_logprobs"}
        assert entry["logprob"] <= 0 and bytes(entry["bytes"]).decode(errors="replace") == entry["token"]
        top = [alternative["logprob"] for alternative in entry["top_logprobs"]]
        assert len(top) == 3 and top == sorted(top, reverse=True) and top[0] >= entry["logprob"]
    bad = client.post("/api/chat", json={"model": CHAT, "messages": [], "top_logprobs": 21})
    assert (bad.status_code, bad.json()) == (400, {"error": "top_logprobs must be between 0 and 20"})


def test_generate_on_the_base_model(client):
    lines = _ndjson(
        client.post("/api/generate", json={"model": BASE, "prompt": "The sky is", "options": {"num_predict": 8}})
    )
    *pieces, final = lines
    assert all("response" in line for line in lines)
    assert final["done"] is True and final["eval_count"] == 8 and final["done_reason"] == "length"
    assert len(final["context"]) == final["prompt_eval_count"] + final["eval_count"]
    raw = client.post(
        "/api/generate",
        json={"model": BASE, "prompt": "1, 2, 3,", "raw": True, "stream": False, "options": {"num_predict": 4}},
    ).json()
    assert raw["response"] and "context" not in raw
    chat = client.post("/api/chat", json={"model": BASE, "messages": [{"role": "user", "content": "hi"}]})
    assert (chat.status_code, chat.json()) == (400, {"error": '"gemma3:270m" does not support chat'})


def test_embeddings_rank_similar_sentences_closer(client):
    sentences = ["A man is eating food.", "A man is eating a piece of bread.", "The stock market fell sharply."]
    reply = client.post("/api/embed", json={"model": "all-minilm", "input": sentences}).json()
    food, bread, stocks = reply["embeddings"]
    assert len(food) == 384 and math.isclose(math.hypot(*food), 1, rel_tol=1e-4)
    assert _cosine(food, bread) > _cosine(food, stocks) + 0.3
    tokenizer = tokenizers.Tokenizer.from_file(str(CATALOG[EMBED].source.tokenizer))
    tokenizer.no_padding()
    assert reply["prompt_eval_count"] == sum(len(tokenizer.encode(text).ids) for text in sentences)
    assert reply["total_duration"] > 0 and "load_duration" in reply


def test_embed_dimensions_truncates_and_renormalizes(client):
    full = client.post("/api/embed", json={"model": EMBED, "input": "hello world"}).json()["embeddings"][0]
    short = client.post("/api/embed", json={"model": EMBED, "input": "hello world", "dimensions": 64}).json()
    (vector,) = short["embeddings"]
    assert len(vector) == 64 and math.isclose(math.hypot(*vector), 1, rel_tol=1e-4)
    assert _cosine(vector, full[:64]) > 0.9999


def test_embed_limits_and_legacy_endpoint(client):
    long_text = "word " * 400
    refused = client.post("/api/embed", json={"model": EMBED, "input": long_text, "truncate": False})
    assert (refused.status_code, refused.json()) == (400, {"error": "the input length exceeds the context length"})
    assert client.post("/api/embed", json={"model": EMBED, "input": long_text}).json()["prompt_eval_count"] == 256
    assert client.post("/api/embed", json={"model": EMBED, "input": []}).json() == {"model": EMBED, "embeddings": []}
    assert client.post("/api/embed", json={"model": EMBED, "input": 3}).status_code == 400
    legacy = client.post("/api/embeddings", json={"model": EMBED, "prompt": "hello world"}).json()["embedding"]
    normalized = client.post("/api/embed", json={"model": EMBED, "input": "hello world"}).json()["embeddings"][0]
    assert not math.isclose(math.hypot(*legacy), 1, rel_tol=1e-3) and _cosine(legacy, normalized) > 0.9999


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("/api/chat", {"model": "nope", "messages": []}, 404, "model 'nope' not found"),
        ("/api/chat", {"messages": []}, 400, "model is required"),
        ("/api/generate", {"model": "", "prompt": "hi"}, 404, "model '' not found"),
        ("/api/embed", {"model": "nope", "input": "hi"}, 404, "model 'nope' not found"),
        (
            "/api/chat",
            {"model": CHAT, "messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function"}]},
            400,
            "registry.ollama.ai/library/smollm2:135m does not support tools",
        ),
        (
            "/api/chat",
            {"model": CHAT, "messages": [{"role": "user", "content": "hi", "images": ["aGk="]}]},
            400,
            "registry.ollama.ai/library/smollm2:135m does not support vision",
        ),
        ("/api/chat", {"model": CHAT, "messages": [], "think": True}, 400, '"smollm2:135m" does not support thinking'),
        ("/api/chat", {"model": EMBED, "messages": []}, 400, '"all-minilm:latest" does not support chat'),
        ("/api/embed", {"model": CHAT, "input": "hi"}, 400, '"smollm2:135m" does not support embeddings'),
        ("/api/chat", {"model": CHAT, "messages": [], "format": "yaml"}, 400, None),
        ("/api/chat", {"model": CHAT, "messages": [], "options": {"temperature": "hot"}}, 500, None),
    ],
)
def test_errors_use_ollamas_statuses_and_bodies(client, path, body, status, error):
    response = client.post(path, json=body)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.json()["error"] == error if error else response.json()["error"]


def test_load_request_and_ps(client):
    loaded = client.post("/api/chat", json={"model": CHAT, "messages": []}).json()
    assert (loaded["done"], loaded["done_reason"]) == (True, "load")
    running = {entry["name"]: entry for entry in client.get("/api/ps").json()["models"]}
    assert running[CHAT]["context_length"] == 4096 and running[CHAT]["details"]["family"] == "llama"


def test_client_disconnect_stops_generation(client):
    before = client.get("/_engine/stats").json()
    body = {"model": CHAT, "prompt": "Write a very long essay about the sea.", "options": {"num_predict": 2000}}
    with client.stream("POST", "/api/generate", json=body) as response:
        for number, _ in enumerate(response.iter_lines()):
            if number == 3:
                break
    deadline = time.monotonic() + 5
    while (stats := client.get("/_engine/stats").json())["active"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stats["active"] == 0 and stats["cancelled"] == before["cancelled"] + 1
    assert stats["tokens_generated"] - before["tokens_generated"] < 200


def test_concurrent_requests_queue_in_arrival_order(engine):
    async def scenario():
        finished = []

        async def ask(client, number):
            body = {"model": CHAT, "prompt": f"Count to {number}.", "stream": False, "options": {"num_predict": 16}}
            response = await client.post("/api/generate", json=body)
            assert response.status_code == 200 and response.json()["done"] is True
            finished.append(number)

        async with httpx.AsyncClient(base_url=engine, timeout=60) as client:
            tasks = []
            for number in range(3):
                tasks.append(asyncio.create_task(ask(client, number)))
                await asyncio.sleep(0.1)
            await asyncio.gather(*tasks)
        return finished

    assert asyncio.run(scenario()) == [0, 1, 2]
