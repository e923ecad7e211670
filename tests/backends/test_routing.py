"""Several Ollama backends: model-aware routing, health, failover, queues and old versions."""

import asyncio
import time

import httpx
import openai
import pytest

from ollamaweb.backends.health import check_all
from ollamaweb.backends.models import Backend, BackendEvent
from ollamaweb.backends.registry import registry
from ollamaweb.usage.models import RequestLog
from tests.conftest import settle_logs
from tests.fake_ollama import FakeOllama, Reply

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def fakes(start_fake):
    """Three extra fake Ollama servers."""
    return [start_fake() for _ in range(3)]


def configure(gateway, *fakes, **options):
    """Make `fakes` the gateway's backends (b0, b1, …) and run one health-check round."""
    for i, fake in enumerate(fakes):
        Backend.objects.create(name=f"b{i}", url=fake.url, **options.get(f"b{i}", {}))
    check(gateway)


def check(gateway):
    registry.invalidate()
    gateway.call(check_all(registry))


def alike(gateway, fakes, reply):
    """Two of `fakes` as the backends, both serving llama3 with `reply`."""
    a, b, _ = fakes
    for fake in (a, b):
        fake.add_model("llama3")
        fake.reply = reply
    configure(gateway, a, b)
    return a, b


def chat_counts(*fakes):
    return [fake.counts_for("/api/chat") for fake in fakes]


def test_requests_go_to_the_backend_that_has_the_model(gateway, client, fakes):
    a, b, _ = fakes
    a.add_model("llama3")
    b.add_model("qwen3:8b")
    configure(gateway, a, b)
    for _ in range(3):
        client.chat.completions.create(model="qwen3:8b", messages=HI)
        client.chat.completions.create(model="llama3", messages=HI)
    assert chat_counts(a, b) == [3, 3]
    assert all(r.json["model"] == "llama3" for r in a.requests if r.path == "/api/chat")
    settle_logs(gateway)
    assert set(RequestLog.objects.filter(requested_model="qwen3:8b").values_list("backend", flat=True)) == {"b1"}


def test_a_backend_with_the_model_loaded_is_preferred(gateway, client, fakes):
    a, b, _ = fakes
    a.add_model("llama3")
    b.add_model("llama3", loaded=True)
    configure(gateway, a, b)
    for _ in range(5):
        client.chat.completions.create(model="llama3", messages=HI)
    assert chat_counts(a, b) == [0, 5]


def test_load_spreads_by_in_flight_requests(gateway, async_client, fakes):
    a, b = alike(gateway, fakes, Reply(content="slow", first_token_delay=0.3))

    async def burst():
        await asyncio.gather(*(async_client.chat.completions.create(model="llama3", messages=HI) for _ in range(10)))

    asyncio.run(burst())
    assert sorted(chat_counts(a, b)) == [5, 5]


def test_failover_to_another_backend_and_circuit_breaker(gateway, client, fakes):
    a, b, _ = fakes
    a.add_model("llama3", loaded=True)  # preferred, until it is taken out of rotation
    b.add_model("llama3")
    configure(gateway, a, b)
    a.stop()  # refuses connections from now on
    for _ in range(6):
        assert client.chat.completions.create(model="llama3", messages=HI).choices[0].message.content
    assert chat_counts(b) == [6]
    assert registry.state_of("b0").up is False  # marked down after repeated failures: no more tries
    check(gateway)
    assert list(BackendEvent.objects.filter(backend__name="b0").values_list("up", flat=True)) == [False]


def test_a_recovered_backend_is_used_again(gateway, client, fakes):
    a, b, _ = fakes
    b.add_model("llama3")
    port = int(a.url.rsplit(":", 1)[1])
    a.stop()
    configure(gateway, a, b, b0={"weight": 5})
    assert registry.state_of("b0").up is False
    revived = FakeOllama(port=port).start()
    try:
        revived.add_model("llama3", loaded=True)
        check(gateway)
        assert registry.state_of("b0").up is True
        client.chat.completions.create(model="llama3", messages=HI)
        assert revived.counts_for("/api/chat") == 1
        assert list(BackendEvent.objects.filter(backend__name="b0").values_list("up", flat=True)) == [True]
    finally:
        revived.stop()


def test_busy_backend_fails_over(gateway, client, fakes):
    a, b, _ = fakes
    a.add_model("llama3", loaded=True)
    b.add_model("llama3")
    a.busy = True
    configure(gateway, a, b)
    completion = client.chat.completions.create(model="llama3", messages=HI)
    assert completion.choices[0].message.content
    assert chat_counts(b) == [1]


def test_no_retry_after_the_first_token(gateway, client, fakes):
    a, b, _ = fakes
    a.add_model("llama3", loaded=True)
    b.add_model("llama3")
    a.reply = Reply(content="one two three", error_after=1)
    configure(gateway, a, b)
    with pytest.raises(openai.APIError):
        for _ in client.chat.completions.create(model="llama3", messages=HI, stream=True):
            pass
    assert chat_counts(a, b) == [1, 0]


def test_per_backend_concurrency_limit_queues_requests(gateway, async_client, fakes):
    a = fakes[0]
    a.add_model("llama3")
    a.reply = Reply(content="x", first_token_delay=0.2)
    configure(gateway, a, b0={"max_concurrent": 2})

    async def burst():
        return await asyncio.gather(
            *(async_client.chat.completions.create(model="llama3", messages=HI) for _ in range(8))
        )

    results = asyncio.run(burst())
    assert len(results) == 8
    assert a.max_active == 2


def test_a_full_queue_answers_503_with_retry_after(gateway, api_key, fakes, settings):
    a = fakes[0]
    a.add_model("llama3")
    a.reply = Reply(content="x", first_token_delay=1.0)
    settings.BACKEND_QUEUE_TIMEOUT = 0.3
    configure(gateway, a, b0={"max_concurrent": 1})

    async def burst():
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
            body = {"model": "llama3", "messages": HI}
            headers = {"Authorization": f"Bearer {api_key[1]}"}
            return await asyncio.gather(
                *(http.post("/v1/chat/completions", json=body, headers=headers) for _ in range(3))
            )

    responses = asyncio.run(burst())
    assert sorted(r.status_code for r in responses) == [200, 503, 503]
    refused = next(r for r in responses if r.status_code == 503)
    assert refused.headers["Retry-After"] == "5"
    assert refused.json()["error"]["code"] == "backend_busy"


def test_models_list_is_the_union_across_backends(gateway, client, fakes):
    a, b, c = fakes
    a.add_model("llama3", modified_at="2024-01-01T00:00:00Z")
    b.add_model("llama3", modified_at="2025-06-01T00:00:00Z")
    b.add_model("qwen3:8b")
    c.add_model("someuser/custom:7b")
    configure(gateway, a, b, c)
    models = {model.id: model for model in client.models.list()}
    assert sorted(models) == ["llama3:latest", "qwen3:8b", "someuser/custom:7b"]
    assert models["llama3:latest"].created == 1748736000  # the newest of the two
    assert models["someuser/custom:7b"].owned_by == "someuser"


def test_models_list_skips_a_dead_backend(gateway, client, fakes):
    a, b, _ = fakes
    a.add_model("llama3")
    b.add_model("qwen3:8b")
    configure(gateway, a, b)
    b.stop()
    assert [model.id for model in client.models.list()] == ["llama3:latest"]


def test_old_backend_gets_an_adapted_request(gateway, client, fakes, start_fake):
    old = start_fake(version="0.6.5")
    old.add_model("llama3", capabilities=["completion", "tools"])
    configure(gateway, old)
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {
        "type": "object", "properties": {"q": {"type": ["string", "null"]}}}}}]  # fmt: skip
    client.chat.completions.create(
        model="llama3",
        tools=tools,
        messages=[
            {"role": "user", "content": "look it up"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}],
            },  # fmt: skip
            {"role": "tool", "tool_call_id": "call_1", "content": "found"},
        ],
    )
    native = [r for r in old.requests if r.path == "/api/chat"][-1].json
    assert native["tools"][0]["function"]["parameters"]["properties"]["q"]["type"] == "string"
    assert "id" not in native["messages"][1]["tool_calls"][0]
    assert native["messages"][2] == {"role": "tool", "content": "found"}
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="llama3", messages=HI, logprobs=True)
    assert "runs Ollama 0.6.5" in refused.value.body["message"]
    assert refused.value.body["param"] == "logprobs"


def test_a_feature_goes_to_a_backend_that_has_it(gateway, client, fakes, start_fake):
    old = start_fake(version="0.6.5")
    old.add_model("llama3", loaded=True)
    fakes[0].add_model("llama3")
    configure(gateway, old, fakes[0])
    client.chat.completions.create(model="llama3", messages=HI, logprobs=True)
    assert chat_counts(old, fakes[0]) == [0, 1]


def test_embedding_dimensions_on_an_old_backend_are_applied_by_the_gateway(gateway, client, fakes, start_fake):
    old = start_fake(version="0.6.5")
    old.add_model("all-minilm", capabilities=["embedding"], embedding_length=8)
    configure(gateway, old)
    vector = client.embeddings.create(model="all-minilm", input="hello", dimensions=3).data[0].embedding
    assert len(vector) == 3
    assert sum(v * v for v in vector) == pytest.approx(1.0)
    assert "dimensions" not in [r for r in old.requests if r.path == "/api/embed"][-1].json


def test_ollama_host_may_list_several_backends(gateway, client, fakes, settings):
    a, b, _ = fakes
    a.add_model("llama3")
    b.add_model("qwen3:8b")
    settings.OLLAMA_HOST = f"{a.url},{b.url.removeprefix('http://')}"
    check(gateway)
    client.chat.completions.create(model="qwen3:8b", messages=HI)
    client.chat.completions.create(model="llama3", messages=HI)
    assert chat_counts(a, b) == [1, 1]


@pytest.mark.slow
def test_killing_a_backend_under_load_fails_only_its_streams(gateway, api_key, fakes):
    a, b = alike(gateway, fakes, Reply(content="a b c d e f", token_delay=0.1))

    async def one(http, results):
        body = {"model": "llama3", "messages": HI, "stream": True}
        try:
            async with http.stream(
                "POST", "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {api_key[1]}"}
            ) as response:
                text = (await response.aread()).decode()
                results.append("ok" if response.status_code == 200 and text.endswith("data: [DONE]\n\n") else "failed")
        except httpx.HTTPError:
            results.append("failed")

    async def load():
        results, tasks = [], []
        async with httpx.AsyncClient(
            base_url=gateway.url, timeout=30, limits=httpx.Limits(max_connections=300)
        ) as http:
            started = time.monotonic()
            for i in range(200):  # 200 requests over ~8 seconds; backend a dies at ~4 s
                tasks.append(asyncio.create_task(one(http, results)))
                if i == 100:
                    in_flight_on_a = a.active
                    a.stop()
                await asyncio.sleep(max(0, started + i * 0.04 - time.monotonic()))
            await asyncio.gather(*tasks)
        return results, in_flight_on_a

    results, in_flight_on_a = asyncio.run(load())
    assert results.count("failed") <= in_flight_on_a
    assert results.count("ok") >= 200 - in_flight_on_a


def test_a_slot_held_while_the_limit_changes_is_given_back_to_the_semaphore_it_came_from():
    """max_concurrent changed (here: removed) while a request holds a slot: leaving it neither
    fails nor frees a slot of the new limit, and the in-flight count comes back to 0."""
    from ollamaweb.backends.config import BackendConfig
    from ollamaweb.backends.registry import BackendState

    async def scenario():
        state = BackendState(BackendConfig("b", "http://127.0.0.1:9", max_concurrent=1))
        async with state.slot():
            taken = state._slots
            assert state.inflight == 1 and taken.locked()
            state.configure(BackendConfig("b", "http://127.0.0.1:9", max_concurrent=None))
        assert state.inflight == 0 and not taken.locked() and state._slots is None
        state.configure(BackendConfig("b", "http://127.0.0.1:9", max_concurrent=2))
        async with state.slot(), state.slot():
            assert state.inflight == 2
        assert state.inflight == 0 and state._slots._value == 2

    asyncio.run(scenario())
