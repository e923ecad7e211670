"""Tests of the fake Ollama server itself (no Django needed)."""

import asyncio
import json
import math
import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.fake_ollama import FakeOllama, Reply

RFC3339_NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
USER_HI = [{"role": "user", "content": "Say hi"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": ["string", "null"]}}},
    },
}


@pytest.fixture
def fake():
    with FakeOllama() as server:
        server.add_model("llama3")
        server.add_model("all-minilm")
        yield server


@pytest.fixture
def client(fake):
    with httpx.Client(base_url=fake.url, timeout=5) as http_client:
        yield http_client


def stream_lines(client, path, body, timeout=5.0):
    """POST and return (response, decoded NDJSON lines)."""
    with client.stream("POST", path, json=body, timeout=timeout) as response:
        lines = [json.loads(line) for line in response.iter_lines() if line]
    return response, lines


def chat(client, **fields):
    return client.post("/api/chat", json={"model": "llama3", "messages": USER_HI, **fields})


# --- Streaming and non-streaming completions --------------------------------------------


def test_chat_streams_one_token_per_line_then_a_final_line_with_metrics(fake, client):
    response, lines = stream_lines(client, "/api/chat", {"model": "llama3", "messages": USER_HI})

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    *chunks, final = lines
    assert [chunk["message"] for chunk in chunks] == [
        {"role": "assistant", "content": token} for token in ["Hello", " there", ",", " friend", "!"]
    ]
    assert all(chunk["done"] is False and chunk["model"] == "llama3" for chunk in chunks)
    assert all(RFC3339_NANO.match(line["created_at"]) for line in lines)
    assert final["message"] == {"role": "assistant", "content": ""}
    assert (final["done"], final["done_reason"]) == (True, "stop")
    assert (final["prompt_eval_count"], final["eval_count"]) == (2 + 4, 5)
    parts = final["load_duration"] + final["prompt_eval_duration"] + final["eval_duration"]
    assert final["total_duration"] == parts > 0
    fake.wait_for(lambda: fake.completed == 1)


def test_lines_are_flushed_as_they_are_generated(fake, client):
    fake.reply = Reply(token_delay=0.05)
    arrivals = []

    with client.stream("POST", "/api/chat", json={"model": "llama3", "messages": USER_HI}) as stream:
        arrivals.extend(time.monotonic() for _ in stream.iter_lines())

    assert len(arrivals) == 6
    assert arrivals[4] - arrivals[0] >= 0.15


def test_chat_without_streaming_answers_one_json_object(client):
    response = chat(client, stream=False)

    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert body["message"] == {"role": "assistant", "content": "Hello there, friend!"}
    assert (body["done"], body["done_reason"], body["eval_count"]) == (True, "stop", 5)


def test_generate_streams_response_fields_and_ends_with_context(fake, client):
    fake.reply = Reply(tokens=["4", "2"])

    _, lines = stream_lines(client, "/api/generate", {"model": "llama3", "prompt": "six times seven"})

    assert [line["response"] for line in lines] == ["4", "2", ""]
    assert lines[-1]["context"] == [1, 2, 3]
    assert lines[-1]["prompt_eval_count"] == 3 + 4


def test_explicit_counts_and_omitted_zero_metrics(fake, client):
    fake.reply = Reply(content="", prompt_eval_count=0, eval_count=0, omit_zero_metrics=True)

    body = chat(client, stream=False).json()

    assert "prompt_eval_count" not in body and "eval_count" not in body
    assert body["eval_duration"] > 0


def test_num_predict_truncates_with_done_reason_length(client):
    body = chat(client, stream=False, options={"num_predict": 2}).json()

    assert (body["message"]["content"], body["done_reason"], body["eval_count"]) == ("Hello there", "length", 2)


@pytest.mark.parametrize(("stop", "expected"), [([" friend"], "Hello there,"), ("er", "Hello th")])
def test_stop_strings_cut_the_output_before_them(client, stop, expected):
    _, lines = stream_lines(client, "/api/chat", {"model": "llama3", "messages": USER_HI, "options": {"stop": stop}})

    assert "".join(line["message"]["content"] for line in lines) == expected
    assert lines[-1]["done_reason"] == "stop"


def test_per_model_reply_and_responder_override_the_default(fake, client):
    fake.add_model("mistral")
    fake.set_reply("mistral:latest", Reply(content="Bonjour"))
    assert chat(client, model="mistral", stream=False).json()["message"]["content"] == "Bonjour"

    fake.responder = lambda path, body: Reply(content=f"{path} {body['model']}") if body["model"] == "llama3" else None
    assert chat(client, stream=False).json()["message"]["content"] == "/api/chat llama3"
    assert chat(client, model="mistral", stream=False).json()["message"]["content"] == "Bonjour"


def test_thinking_tool_calls_and_logprobs(fake, client):
    fake.add_model("qwen3", capabilities=["completion", "tools", "thinking"])
    fake.reply = Reply(
        content="", thinking="Let me see", tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}]
    )
    body = {"model": "qwen3", "messages": USER_HI, "think": True, "logprobs": True, "top_logprobs": 2}

    _, lines = stream_lines(client, "/api/chat", body)

    assert [line["message"].get("thinking") for line in lines[:3]] == ["Let", " me", " see"]
    assert lines[0]["logprobs"][0]["token"] == "Let"
    assert lines[0]["logprobs"][0]["bytes"] == list(b"Let")
    assert len(lines[0]["logprobs"][0]["top_logprobs"]) == 2
    (call,) = lines[3]["message"]["tool_calls"]
    assert re.fullmatch(r"call_[a-z0-9]{8}", call["id"])
    assert call["function"] == {"index": 0, "name": "get_weather", "arguments": {"city": "Paris"}}
    assert lines[4]["done"] and lines[4]["eval_count"] == 3


def test_think_false_suppresses_thinking(fake, client):
    fake.reply = Reply(thinking="hidden")

    body = chat(client, stream=False, think=False).json()

    assert "thinking" not in body["message"]


def test_empty_messages_load_and_keep_alive_zero_unloads(fake, client):
    assert chat(client, messages=[]).json()["done_reason"] == "load"
    assert fake.models["llama3:latest"].loaded

    assert chat(client, messages=[], keep_alive=0).json()["done_reason"] == "unload"
    assert not fake.models["llama3:latest"].loaded


# --- Validation errors ------------------------------------------------------------------


def test_unknown_and_missing_models(client):
    assert chat(client, model="nope").json() == {"error": "model 'nope' not found"}
    assert chat(client, model="nope").status_code == 404
    missing = chat(client, model="")
    assert (missing.status_code, missing.json()) == (400, {"error": "model is required"})
    generate = client.post("/api/generate", json={"model": "", "prompt": "hi"})
    assert (generate.status_code, generate.json()) == (404, {"error": "model '' not found"})


def test_capability_and_image_errors(client):
    tools = chat(client, model="all-minilm", tools=[WEATHER_TOOL])
    assert (tools.status_code, tools.json()["error"]) == (
        400,
        "registry.ollama.ai/library/all-minilm:latest does not support tools",
    )
    data_url = [{"role": "user", "content": "what?", "images": ["data:image/png;base64,iVBORw0KGgo="]}]
    assert chat(client, messages=data_url).json() == {"error": "illegal base64 data at input byte 4"}
    vision = chat(client, model="all-minilm", messages=[{"role": "user", "content": "?", "images": ["iVBORw0KGgo="]}])
    assert vision.json()["error"].endswith("all-minilm:latest does not support vision")
    thinking = chat(client, think=True)
    assert (thinking.status_code, thinking.json()["error"]) == (400, '"llama3" does not support thinking')


def test_old_versions_reject_list_typed_tool_properties_and_omit_tool_call_ids():
    with FakeOllama(version="0.6.5") as fake, httpx.Client(base_url=fake.url) as client:
        fake.add_model("llama3", loaded=True)
        rejected = chat(client, tools=[WEATHER_TOOL])
        assert rejected.status_code == 400
        assert rejected.json()["error"] == (
            "json: cannot unmarshal array into Go struct field "
            ".tools.function.parameters.properties.type of type string"
        )

        fake.reply = Reply(content="", thinking="hmm", tool_calls=[{"name": "f", "arguments": {}}])
        body = chat(client, stream=False, think=True, logprobs=True).json()
        assert body["message"] == {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"index": 0, "name": "f", "arguments": {}}}],
        }
        assert "logprobs" not in body
        assert "capabilities" not in client.get("/api/tags").json()["models"][0]
        assert "context_length" not in client.get("/api/ps").json()["models"][0]


# --- Fault injection --------------------------------------------------------------------


def test_status_faults_answer_before_any_output(fake, client):
    fake.reply = Reply(status=500, error="boom")
    response = chat(client)
    assert (response.status_code, response.json()) == (500, {"error": "boom"})

    fake.busy = True
    busy = client.post("/api/embed", json={"model": "all-minilm", "input": "x"})
    assert busy.status_code == 503
    assert busy.json() == {"error": "server busy, please try again.  maximum pending requests exceeded"}
    assert client.get("/api/tags").status_code == 200


def test_error_after_streams_tokens_then_an_error_line(fake, client):
    fake.reply = Reply(error_after=2, error="runner crashed")

    response, lines = stream_lines(client, "/api/chat", {"model": "llama3", "messages": USER_HI})

    assert response.status_code == 200
    assert [line.get("message", {}).get("content") for line in lines[:2]] == ["Hello", " there"]
    assert lines[2:] == [{"error": "runner crashed"}]
    assert chat(client, stream=False).status_code == 500
    assert fake.completed == 0


def test_hang_after_leaves_the_client_waiting_until_it_gives_up(fake, client):
    fake.reply = Reply(hang_after=1)
    received = []

    body = {"model": "llama3", "messages": USER_HI}
    with pytest.raises(httpx.ReadTimeout), client.stream("POST", "/api/chat", json=body, timeout=0.3) as stream:
        received.extend(stream.iter_lines())

    assert [json.loads(line)["message"]["content"] for line in received if line] == ["Hello"]
    fake.wait_for(lambda: fake.cancelled == 1 and fake.active == 0, timeout=1)


def test_hang_before_headers(fake, client):
    fake.reply = Reply(hang_after=0)

    with pytest.raises(httpx.ReadTimeout):
        client.post("/api/embed", json={"model": "all-minilm", "input": "x"}, timeout=0.2)


def test_disconnect_after_breaks_the_stream(fake, client):
    fake.reply = Reply(disconnect_after=2)
    received = []

    body = {"model": "llama3", "messages": USER_HI}
    with pytest.raises(httpx.RemoteProtocolError), client.stream("POST", "/api/chat", json=body) as stream:
        received.extend(stream.iter_lines())

    assert len([line for line in received if line]) == 2
    assert (fake.completed, fake.cancelled) == (0, 0)


def test_client_closing_a_stream_early_cancels_generation(fake, client):
    fake.reply = Reply(content="word " * 50, token_delay=0.02)

    with client.stream("POST", "/api/chat", json={"model": "llama3", "messages": USER_HI}) as stream:
        next(stream.iter_lines())

    fake.wait_for(lambda: fake.cancelled == 1, timeout=1)
    assert (fake.active, fake.completed) == (0, 0)


def test_first_token_delay_and_concurrency_counters(fake):
    fake.reply = Reply(first_token_delay=0.2)

    async def three_at_once():
        async with httpx.AsyncClient(base_url=fake.url) as client:
            requests = [client.post("/api/chat", json={"model": "llama3", "messages": USER_HI}) for _ in range(3)]
            return await asyncio.gather(*requests)

    started = time.monotonic()
    responses = asyncio.run(three_at_once())

    assert 0.2 <= time.monotonic() - started < 1.0
    assert all(response.status_code == 200 for response in responses)
    assert (fake.max_active, fake.active, fake.completed) == (3, 0, 3)
    fake.clear()
    assert (fake.requests, fake.max_active, fake.completed) == ([], 0, 0)


def test_reset_restores_a_fresh_fake(fake, client):
    fake.set_reply("llama3", Reply(content="custom"))
    fake.busy = True
    chat(client)

    fake.reset()

    assert (fake.models, fake.requests, fake.busy, fake.reply) == ({}, [], False, Reply())
    fake.add_model("llama3")
    assert chat(client, stream=False).json()["message"]["content"] == "Hello there, friend!"


def test_start_and_stop_are_fast_even_with_a_hung_request():
    started = time.monotonic()
    fake = FakeOllama().start()
    assert time.monotonic() - started < 0.5
    fake.add_model("llama3")
    fake.reply = Reply(hang_after=0)
    with httpx.Client(base_url=fake.url, timeout=5) as client, ThreadPoolExecutor(1) as pool:
        hung = pool.submit(chat, client)
        fake.wait_for(lambda: fake.active == 1, timeout=1)
        started = time.monotonic()
        fake.stop()
        assert time.monotonic() - started < 0.5
        with pytest.raises(httpx.TransportError):
            hung.result()


# --- Embeddings -------------------------------------------------------------------------


def test_embed_is_deterministic_normalised_and_truncatable(client):
    def embed(**fields):
        return client.post("/api/embed", json={"model": "all-minilm", **fields}).json()

    body = embed(input=["hello world", "goodbye"])
    first, second = body["embeddings"]
    assert len(first) == 384 and body["prompt_eval_count"] == 3
    assert math.isclose(math.fsum(value * value for value in first), 1.0)
    assert first != second
    assert embed(input="hello world")["embeddings"] == [first]
    (short,) = embed(input="hello world", dimensions=8)["embeddings"]
    assert len(short) == 8 and math.isclose(math.fsum(value * value for value in short), 1.0)
    assert embed(input=[])["embeddings"] == []


def test_embed_rejects_token_ids_and_legacy_embeddings_are_raw(client):
    rejected = client.post("/api/embed", json={"model": "all-minilm", "input": [[1, 2, 3]]})
    assert (rejected.status_code, rejected.json()) == (400, {"error": "invalid input type"})

    legacy = client.post("/api/embeddings", json={"model": "all-minilm", "prompt": "hello world"}).json()
    assert len(legacy["embedding"]) == 384
    assert not math.isclose(math.fsum(value * value for value in legacy["embedding"]), 1.0)


# --- Model management and metadata ------------------------------------------------------


def test_version_root_tags_show_and_ps(fake, client):
    fake.add_model("llama3", loaded=True, context_length=4096)

    assert client.get("/api/version").json() == {"version": "0.33.0"}
    assert client.get("/").text == "Ollama is running"
    tags = client.get("/api/tags").json()["models"]
    assert [model["name"] for model in tags] == ["all-minilm:latest", "llama3:latest"]
    assert tags[1]["details"]["family"] == "llama" and tags[1]["capabilities"] == ["completion", "tools", "vision"]
    assert len(tags[1]["digest"]) == 64
    show = client.post("/api/show", json={"model": "llama3"}).json()
    assert show["model_info"]["llama.context_length"] == 4096
    assert client.post("/api/show", json={"name": "all-minilm"}).json()["capabilities"] == ["embedding"]
    assert client.post("/api/show", json={"model": "nope"}).status_code == 404
    (running,) = client.get("/api/ps").json()["models"]
    assert running["name"] == "llama3:latest" and running["context_length"] == 4096
    assert RFC3339_NANO.match(running["expires_at"])


def test_empty_tags_is_an_empty_list():
    with FakeOllama() as fake:
        assert httpx.get(f"{fake.url}/api/tags").json() == {"models": []}


def test_pull_streams_progress_and_adds_the_model(fake, client):
    _, lines = stream_lines(client, "/api/pull", {"model": "phi3"})

    assert lines[0] == {"status": "pulling manifest"}
    assert lines[-1] == {"status": "success"}
    layers = [line for line in lines if "digest" in line]
    assert len({line["digest"] for line in layers}) == 2
    assert any(line["completed"] == line["total"] for line in layers if "completed" in line)
    assert "phi3:latest" in fake.models

    fake.pull_error = "pull model manifest: file does not exist"
    _, lines = stream_lines(client, "/api/pull", {"model": "nope"})
    assert lines == [{"status": "pulling manifest"}, {"error": "pull model manifest: file does not exist"}]


def test_copy_and_delete(fake, client):
    copied = client.post("/api/copy", json={"source": "llama3", "destination": "mine"})
    assert (copied.status_code, copied.content) == (200, b"")
    assert fake.models["mine:latest"].family == "llama"
    missing = client.post("/api/copy", json={"source": "src", "destination": "x"})
    assert (missing.status_code, missing.json()) == (404, {"error": 'model "src" not found'})

    assert client.request("DELETE", "/api/delete", json={"model": "mine"}).status_code == 200
    assert "mine:latest" not in fake.models
    gone = client.request("DELETE", "/api/delete", json={"model": "m"})
    assert (gone.status_code, gone.json()) == (404, {"error": "model 'm' not found"})


# --- HTTP behaviour and observability ---------------------------------------------------


def test_unknown_paths_and_wrong_methods_get_plain_text(client):
    unknown = client.get("/api/nope")
    assert (unknown.status_code, unknown.text) == (404, "404 page not found")
    assert client.get("/api/show").status_code == 405


def test_requests_are_recorded_with_lower_cased_headers(fake, client):
    client.post("/api/chat", json={"model": "llama3", "messages": USER_HI}, headers={"X-Trace": "abc"})

    (request,) = fake.requests
    assert (request.method, request.path, request.json["model"]) == ("POST", "/api/chat", "llama3")
    assert request.headers["x-trace"] == "abc"
    assert fake.counts_for("/api/chat") == 1


def test_one_keep_alive_connection_serves_sequential_and_chunked_requests(fake):
    body = json.dumps({"model": "llama3", "messages": USER_HI, "stream": False}).encode()
    plain = b"POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    chunked = b"POST /api/chat HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n"
    port = int(fake.url.rsplit(":", 1)[1])

    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock, sock.makefile("rb") as responses:
        for request in (plain, chunked % (len(body), body)):
            sock.sendall(request)
            assert read_json_response(responses)["message"]["content"] == "Hello there, friend!"

    assert fake.completed == 2


def read_json_response(responses):
    """Read one Content-Length response off a socket file and decode its JSON body."""
    assert responses.readline().startswith(b"HTTP/1.1 200 OK")
    headers = dict(line.decode().lower().split(": ", 1) for line in iter(responses.readline, b"\r\n"))
    return json.loads(responses.read(int(headers["content-length"])))
