"""Ollama's native API end to end with the real `ollama` Python library → real ASGI server → fake Ollama."""

import httpx
import ollama
import pytest
from django.contrib.auth import get_user_model

from ollamaweb.catalog.models import ModelAlias
from ollamaweb.keys import services
from ollamaweb.quotas.models import QuotaPolicy
from ollamaweb.quotas.policy import policy_table
from ollamaweb.usage.models import RequestLog
from tests.api.weather import weather_function
from tests.conftest import assert_logged, only_log, settle_logs
from tests.fake_ollama import Reply
from tests.quotas.helpers import wait_for_minute_headroom


def staff_user():
    """Staff grant the manage-models scope."""
    return get_user_model().objects.get_or_create(username="staff", defaults={"is_staff": True})[0]


def ollama_client(gateway, secret, **kwargs):
    return ollama.Client(host=gateway.url, headers={"Authorization": f"Bearer {secret}"}, timeout=20, **kwargs)


@pytest.fixture
def client(gateway, api_key):
    return ollama_client(gateway, api_key[1])


@pytest.fixture
def manager(gateway, user):
    key, secret = services.issue_key(user, "manager")
    services.grant_manage_models(key, staff_user())
    return ollama_client(gateway, secret)


def native_requests(fake, path):
    return [r.json for r in fake.requests if r.path == path]


# -- inference ----------------------------------------------------------------------------------


def test_chat_answers_with_the_requested_name_and_logs_exact_usage(client, gateway, fake_ollama, api_key):
    ModelAlias.objects.create(name="gpt-4o", target="llama3")
    fake_ollama.reply = Reply(content="Hello there, friend!", prompt_eval_count=26, eval_count=7)

    response = client.chat(model="gpt-4o", messages=[{"role": "user", "content": "Say this is a test"}])

    assert response.message.content == "Hello there, friend!" and response.message.role == "assistant"
    assert response.model == "gpt-4o"  # the alias, not the backend model
    assert response.done and response.done_reason == "stop"
    assert (response.prompt_eval_count, response.eval_count) == (26, 7)
    assert response.total_duration and response.eval_duration  # Ollama's durations pass through
    [sent] = native_requests(fake_ollama, "/api/chat")
    assert sent["model"] == "llama3"  # (the gateway reads every generation as a stream, whatever the client asked)
    log = assert_logged(
        gateway, endpoint="ollama.chat", requested_model="gpt-4o", resolved_model="llama3", status=200, stream=False
    )
    assert (log.prompt_tokens, log.completion_tokens, log.usage_source) == (26, 7, "measured")
    assert log.key_prefix == api_key[0].prefix
    assert log.total_duration_ms == pytest.approx(response.total_duration / 1e6)  # Ollama's durations, logged
    assert log.eval_duration_ms == pytest.approx(response.eval_duration / 1e6)


def test_chat_stream_relays_every_chunk_and_counts_usage(client, gateway, fake_ollama):
    fake_ollama.reply = Reply(content="one two three", tokens=["one", " two", " three"], eval_count=3)

    parts = list(client.chat(model="llama3", messages=[{"role": "user", "content": "count"}], stream=True))

    assert [p.message.content for p in parts[:-1]] == ["one", " two", " three"]
    assert all(p.model == "llama3" and not p.done for p in parts[:-1])
    final = parts[-1]
    assert final.done and final.done_reason == "stop" and final.eval_count == 3 and final.prompt_eval_count
    log = only_log(gateway)
    assert (log.endpoint, log.stream, log.status, log.completion_tokens) == ("ollama.chat", True, 200, 3)
    assert log.prompt_tokens == final.prompt_eval_count and log.ttft_ms is not None


def test_every_chat_field_reaches_the_backend_unchanged(client, fake_ollama):
    tools = [weather_function()]
    fake_ollama.add_model("qwen3", capabilities=["completion", "tools", "thinking"])
    fake_ollama.reply = Reply(
        thinking="let me see", tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}]
    )

    response = client.chat(
        model="qwen3",
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=tools,
        think=True,
        format={"type": "object"},
        options={"temperature": 0.1, "num_ctx": 4096, "seed": 3, "top_k": 20},
        keep_alive="10m",
    )

    [sent] = native_requests(fake_ollama, "/api/chat")
    assert sent["tools"] == tools and sent["think"] is True and sent["format"] == {"type": "object"}
    assert sent["options"]["temperature"] == 0.1 and sent["options"]["num_ctx"] == 4096
    assert sent["options"]["seed"] == 3 and sent["options"]["top_k"] == 20
    assert sent["keep_alive"] == "10m"
    assert response.message.thinking == "let me see"
    assert response.message.tool_calls[0].function.name == "get_weather"
    assert response.message.tool_calls[0].function.arguments == {"city": "Paris"}


def test_generate_stream_and_not(client, gateway, fake_ollama):
    fake_ollama.reply = Reply(content="def f(): return 1", eval_count=5)
    response = client.generate(
        model="llama3", prompt="def f(", suffix="\n", raw=True, context=[1, 2], options={"num_predict": 9}
    )
    assert response.response == "def f(): return 1" and response.model == "llama3" and response.done
    sent = native_requests(fake_ollama, "/api/generate")[-1]
    assert (sent["prompt"], sent["suffix"], sent["raw"], sent["context"]) == ("def f(", "\n", True, [1, 2])
    assert sent["options"] == {"num_predict": 9}

    parts = list(client.generate(model="llama3", prompt="hi", stream=True))
    assert "".join(p.response for p in parts) == "def f(): return 1" and parts[-1].done
    settle_logs(gateway)
    logs = list(RequestLog.objects.order_by("created_at"))
    assert [(log.endpoint, log.stream, log.completion_tokens) for log in logs] == [
        ("ollama.generate", False, 5),
        ("ollama.generate", True, 5),
    ]


def test_embed_and_the_legacy_embeddings(client, gateway, fake_ollama):
    response = client.embed(model="all-minilm", input=["hello", "world"])
    assert response.model == "all-minilm" and len(response.embeddings) == 2 and len(response.embeddings[0]) == 384
    legacy = client.embeddings(model="all-minilm", prompt="hello")
    assert legacy.embedding == pytest.approx(response.embeddings[0])
    assert native_requests(fake_ollama, "/api/embed")[-1]["input"] == ["hello"]
    assert native_requests(fake_ollama, "/api/embeddings") == []  # served by /api/embed, which reports usage
    settle_logs(gateway)
    logs = list(RequestLog.objects.order_by("created_at"))
    assert [log.endpoint for log in logs] == ["ollama.embed", "ollama.embeddings"]
    assert all(log.prompt_tokens > 0 and log.completion_tokens == 0 and log.status == 200 for log in logs)


def test_an_error_mid_stream_is_raised_by_the_client(client, gateway, fake_ollama):
    fake_ollama.reply = Reply(content="a b c d", error_after=2, error="CUDA out of memory")
    with pytest.raises(ollama.ResponseError, match="CUDA out of memory"):
        for _ in client.chat(model="llama3", messages=[{"role": "user", "content": "x"}], stream=True):
            pass
    log = only_log(gateway)
    assert log.status >= 500 and "CUDA out of memory" in log.error


# -- errors -------------------------------------------------------------------------------------


def test_401_without_or_with_a_wrong_key(gateway, fake_ollama):
    for client in (ollama.Client(host=gateway.url), ollama_client(gateway, "sk-wrong-wrong-wrong-wrong")):
        with pytest.raises(ollama.ResponseError) as caught:
            client.chat(model="llama3", messages=[{"role": "user", "content": "hi"}])
        assert caught.value.status_code == 401
    raw = httpx.post(gateway.url + "/api/chat", json={"model": "llama3"})
    assert raw.status_code == 401 and raw.headers["content-type"].startswith("application/json")
    assert set(raw.json()) == {"error", "signin_url"} and raw.json()["signin_url"].endswith("/keys/ollama/")
    assert native_requests(fake_ollama, "/api/chat") == []


def test_403_outside_the_allow_list(gateway, user, fake_ollama):
    _, secret = services.issue_key(user, "narrow", allowed_models=["all-minilm"])
    client = ollama_client(gateway, secret)
    with pytest.raises(ollama.ResponseError) as caught:
        client.chat(model="llama3", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 403 and "llama3" in caught.value.error
    assert [m.model for m in client.list().models] == ["all-minilm:latest"]
    with pytest.raises(ollama.ResponseError) as caught:
        client.show("llama3")
    assert caught.value.status_code == 403


def test_404_for_an_unknown_model(client, fake_ollama):
    with pytest.raises(ollama.ResponseError) as caught:
        client.chat(model="nope", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 404
    with pytest.raises(ollama.ResponseError) as caught:
        client.show("nope")
    assert caught.value.status_code == 404


def test_400_with_ollamas_wording(client, gateway, api_key, fake_ollama):
    fake_ollama.add_model("plain", capabilities=["completion"])
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    with pytest.raises(ollama.ResponseError) as caught:
        client.chat(model="plain", messages=[{"role": "user", "content": "hi"}], tools=tools)
    assert caught.value.status_code == 400 and "does not support tools" in caught.value.error
    raw = httpx.post(
        gateway.url + "/api/embed",
        json={"model": "all-minilm", "input": [1, 2]},  # the library itself refuses to send this
        headers={"Authorization": f"Bearer {api_key[1]}"},
    )
    assert raw.status_code == 400 and raw.json() == {"error": "invalid input type"}


def test_429_with_retry_after(gateway, user, client, fake_ollama):
    QuotaPolicy.objects.create(user=user, requests_per_minute=1)
    policy_table.invalidate()
    wait_for_minute_headroom()  # the three requests must count in one minute
    client.chat(model="llama3", messages=[{"role": "user", "content": "hi"}])
    raw = httpx.post(
        gateway.url + "/api/chat",
        json={"model": "llama3", "messages": [], "stream": False},
        headers=client._client.headers,
    )
    assert raw.status_code == 429 and int(raw.headers["Retry-After"]) >= 1
    assert "error" in raw.json() and "requests per minute" in raw.json()["error"].lower()
    with pytest.raises(ollama.ResponseError) as caught:
        client.chat(model="llama3", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 429


def test_unknown_api_routes_are_404(client, gateway, api_key):
    for path in ("/api/me", "/api/status", "/api/experimental/web_search", "/api"):
        raw = httpx.post(gateway.url + path, headers={"Authorization": f"Bearer {api_key[1]}"})
        assert raw.status_code == 404 and "404 page not found" in raw.json()["error"]


def test_wrong_method_is_405_in_ollamas_shape(gateway, api_key):
    raw = httpx.get(gateway.url + "/api/chat", headers={"Authorization": f"Bearer {api_key[1]}"})
    assert raw.status_code == 405 and "error" in raw.json()


# -- discovery ----------------------------------------------------------------------------------


def test_head_tags_answers_without_a_body(gateway, api_key, fake_ollama):
    head = httpx.head(gateway.url + "/api/tags", headers={"Authorization": f"Bearer {api_key[1]}"})
    assert head.status_code == 200 and head.content == b""


def test_list_is_the_backend_models_plus_aliases(client, fake_ollama):
    ModelAlias.objects.create(name="gpt-4o", target="llama3")
    listed = client.list().models
    assert sorted(m.model for m in listed) == ["all-minilm:latest", "gpt-4o:latest", "llama3:latest"]
    alias = next(m for m in listed if m.model == "gpt-4o:latest")
    original = next(m for m in listed if m.model == "llama3:latest")
    assert alias.details.family == original.details.family and alias.size == original.size


def test_show_resolves_aliases(client, fake_ollama):
    ModelAlias.objects.create(name="gpt-4o", target="llama3")
    shown = client.show("gpt-4o")
    assert "tools" in shown.capabilities and shown.details.family == "llama"
    assert [r.json for r in fake_ollama.requests if r.path == "/api/show"][-1]["model"] == "llama3"


def test_ps_lists_loaded_models(client, fake_ollama):
    fake_ollama.add_model("qwen3", loaded=True)
    running = client.ps().models
    assert [m.model for m in running] == ["qwen3:latest"] and running[0].size_vram


def test_version_and_root_need_no_key(gateway, fake_ollama):
    assert httpx.get(gateway.url + "/api/version").json() == {"version": "0.33.0"}
    assert httpx.head(gateway.url + "/api/version").status_code == 200
    head = httpx.head(gateway.url + "/")
    assert head.status_code == 200 and head.content == b""
    probe = httpx.get(gateway.url + "/", headers={"Accept": "*/*"})
    assert probe.status_code == 200 and probe.text == "Ollama is running"
    browser = httpx.get(gateway.url + "/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert browser.status_code == 302 and "/accounts/login/" in browser.headers["location"]  # the portal


# -- management ---------------------------------------------------------------------------------


def test_pull_streams_progress_for_a_manage_scoped_key(manager, gateway, fake_ollama):
    lines = list(manager.pull("mistral", stream=True))
    statuses = [line.status for line in lines]
    assert statuses[0] == "pulling manifest" and statuses[-1] == "success"
    assert any(line.digest and line.total and line.completed for line in lines)
    assert "mistral:latest" in fake_ollama.models
    assert "mistral:latest" in [m.model for m in manager.list().models]
    assert manager.pull("mistral").status == "success"  # not streamed: the last line
    settle_logs(gateway)
    logs = list(RequestLog.objects.filter(endpoint="ollama.pull").order_by("created_at"))
    assert [(log.stream, log.status, log.requested_model) for log in logs] == [
        (True, 200, "mistral"),
        (False, 200, "mistral"),
    ]


def test_a_failed_pull_ends_with_an_error_line(manager, fake_ollama):
    fake_ollama.pull_error = "pull model manifest: file does not exist"
    with pytest.raises(ollama.ResponseError, match="file does not exist"):
        list(manager.pull("nothing", stream=True))


def test_management_needs_the_scope(client, gateway, fake_ollama):
    for call in (
        lambda: list(client.pull("mistral", stream=True)),
        lambda: client.copy("llama3", "mine"),
        lambda: client.delete("llama3"),
        lambda: client.create("mine", from_="llama3"),
        lambda: client.push("llama3"),
    ):
        with pytest.raises(ollama.ResponseError) as caught:
            call()
        assert caught.value.status_code == 403 and "may not manage models" in caught.value.error
    assert native_requests(fake_ollama, "/api/pull") == [] and "llama3:latest" in fake_ollama.models


def test_copy_to_a_new_name_makes_an_alias_and_delete_removes_it(manager, fake_ollama):
    manager.copy("llama3", "team-model")
    assert ModelAlias.objects.get(name="team-model").target == "llama3"
    assert native_requests(fake_ollama, "/api/copy") == []
    assert manager.chat(model="team-model", messages=[{"role": "user", "content": "hi"}]).model == "team-model"
    manager.delete("team-model")
    assert not ModelAlias.objects.exists() and "llama3:latest" in fake_ollama.models


def test_copy_onto_an_existing_model_is_a_real_copy_and_delete_removes_models(manager, fake_ollama):
    fake_ollama.add_model("mistral")
    manager.copy("llama3", "mistral")
    assert native_requests(fake_ollama, "/api/copy") == [{"source": "llama3", "destination": "mistral"}]
    manager.delete("mistral")
    assert "mistral:latest" not in fake_ollama.models
    with pytest.raises(ollama.ResponseError) as caught:
        manager.delete("mistral")
    assert caught.value.status_code == 404
    with pytest.raises(ollama.ResponseError) as caught:
        manager.copy("nope", "x")
    assert caught.value.status_code == 404


def test_push_streams_progress(manager, fake_ollama):
    lines = list(manager.push("llama3", stream=True))
    assert [line.status for line in lines][0] == "retrieving manifest" and lines[-1].status == "success"
    assert any(line.digest and line.total for line in lines)
    with pytest.raises(ollama.ResponseError) as caught:
        list(manager.push("nope", stream=True))
    assert caught.value.status_code == 404


def test_create_from_a_model_and_from_uploaded_blobs(manager, gateway, fake_ollama, tmp_path, api_key):
    statuses = [line.status for line in manager.create("brief", from_="llama3", system="be brief", stream=True)]
    assert statuses[-1] == "success" and any(status.startswith("creating new layer") for status in statuses)
    assert "brief:latest" in fake_ollama.models
    assert [r.json for r in fake_ollama.requests if r.path == "/api/create"][-1]["system"] == "be brief"

    weights = tmp_path / "model.gguf"
    weights.write_bytes(b"GGUF fake weights")
    digest = manager.create_blob(weights)
    assert fake_ollama.blobs[digest] == b"GGUF fake weights"
    auth = manager._client.headers
    assert httpx.head(f"{gateway.url}/api/blobs/{digest}", headers=auth).status_code == 200
    assert httpx.head(f"{gateway.url}/api/blobs/sha256:{'0' * 64}", headers=auth).status_code == 404
    wrong = httpx.post(f"{gateway.url}/api/blobs/sha256:{'0' * 64}", content=b"other bytes", headers=auth)
    assert wrong.status_code == 400 and "digest mismatch" in wrong.json()["error"]
    bad = httpx.post(f"{gateway.url}/api/blobs/sha256:xyz", content=b"x", headers=auth)
    assert bad.status_code == 400 and bad.json()["error"] == "invalid digest format"
    assert manager.create("from-file", files={"model.gguf": digest}).status == "success"
    assert "from-file:latest" in fake_ollama.models

    user_headers = {"Authorization": f"Bearer {api_key[1]}"}  # no manage scope
    assert httpx.head(f"{gateway.url}/api/blobs/{digest}", headers=user_headers).status_code == 403


def test_ollama_api_key_and_ollama_host_from_the_environment(gateway, api_key, fake_ollama, monkeypatch):
    """ollama-python ≥ 0.6 sends OLLAMA_API_KEY as a bearer key to any host: no code change needed."""
    monkeypatch.setenv("OLLAMA_HOST", gateway.url)
    monkeypatch.setenv("OLLAMA_API_KEY", api_key[1])
    assert "llama3:latest" in [m.model for m in ollama.Client().list().models]


def test_a_client_that_leaves_a_stream_stops_the_backend_and_is_charged(client, gateway, fake_ollama):
    fake_ollama.reply = Reply(content=" ".join(f"word{i}" for i in range(100)), token_delay=0.05)
    stream = client.chat(model="llama3", messages=[{"role": "user", "content": "talk"}], stream=True)
    for index, _ in enumerate(stream):
        if index == 3:
            break
    client._client.close()  # the connection goes away, as when a program stops reading
    fake_ollama.wait_for(lambda: fake_ollama.cancelled == 1)
    log = only_log(gateway)
    assert (log.endpoint, log.status, log.stream, log.usage_source) == ("ollama.chat", 499, True, "counted")
    assert 4 <= log.completion_tokens < 100 and log.prompt_tokens > 0
