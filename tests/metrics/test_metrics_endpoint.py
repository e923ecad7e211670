"""GET /metrics through the real server: requests made with the openai client, then scraped."""

import asyncio
import json

import httpx
import openai
import pytest

from ollamaweb.backends.health import check_all
from ollamaweb.backends.registry import registry
from ollamaweb.backends.services import set_backend
from ollamaweb.usage.models import RequestLog
from tests.conftest import settle_logs
from tests.fake_ollama import Reply
from tests.quotas.helpers import refused_by_the_minute_limit
from tests.usage.test_log_writer import poison_trigger  # noqa: F401 (a fixture)

HI = [{"role": "user", "content": "hi"}]
CHAT = {"protocol": "openai", "endpoint": "chat.completions", "model": "llama3:latest"}


def gpu_ns(prompt: int, completion: int, first_token_delay=0.0, token_delay=0.0) -> int:
    """The fake's total_duration for a reply (tests/fake_ollama.py _metrics)."""
    load = 1_000_000 + int(first_token_delay * 1e9)
    return load + 200_000 * max(prompt, 1) + (10_000_000 + int(token_delay * 1e9)) * max(completion, 1)


def test_requests_tokens_gpu_time_and_latency_are_counted(gateway, client, metrics):
    before = metrics()
    client.chat.completions.create(model="llama3", messages=HI)
    client.chat.completions.create(model="llama3", messages=HI)
    client.embeddings.create(model="all-minilm", input=["a", "b"])
    settle_logs(gateway)
    after = metrics()

    chats = list(RequestLog.objects.filter(endpoint="chat.completions"))
    assert len(chats) == 2
    labels = {**CHAT, "status_class": "2xx"}
    assert after.value("ollamaweb_requests_total", **labels) - before.value("ollamaweb_requests_total", **labels) == 2
    embed = {"endpoint": "embeddings", "model": "all-minilm:latest", "status_class": "2xx"}
    assert after.value("ollamaweb_requests_total", **embed) - before.value("ollamaweb_requests_total", **embed) == 1
    # The backend label names the backend that served (OLLAMA_HOST: host:port).
    served = {
        ls["backend"]
        for ls in after.labelsets("ollamaweb_requests_total")
        if ls["model"] == "llama3:latest"
        and after.value("ollamaweb_requests_total", **ls) > before.value("ollamaweb_requests_total", **ls)
    }
    assert served == {chats[0].backend}

    def delta(name, **labels):
        return after.value(name, **labels) - before.value(name, **labels)

    prompt = sum(r.prompt_tokens for r in chats)
    completion = sum(r.completion_tokens for r in chats)
    assert prompt > 0 and completion > 0
    assert delta("ollamaweb_tokens_total", model="llama3:latest", direction="in") == prompt
    assert delta("ollamaweb_tokens_total", model="llama3:latest", direction="out") == completion
    expected_gpu = sum(gpu_ns(r.prompt_tokens, r.completion_tokens) for r in chats) / 1e9
    assert delta("ollamaweb_gpu_seconds_total", model="llama3:latest") == pytest.approx(expected_gpu)
    assert delta("ollamaweb_gpu_phase_seconds_total", model="llama3:latest", phase="load") == pytest.approx(0.002)

    assert delta("ollamaweb_request_duration_seconds_count", endpoint="chat.completions", status_class="2xx") == 2
    latency = delta("ollamaweb_request_duration_seconds_sum", endpoint="chat.completions", status_class="2xx")
    assert latency == pytest.approx(sum(r.latency_ms for r in chats) / 1000, rel=1e-6)
    overhead = delta("ollamaweb_gateway_overhead_seconds_sum", endpoint="chat.completions")
    assert delta("ollamaweb_gateway_overhead_seconds_count", endpoint="chat.completions") == 2
    assert 0 < overhead < latency  # the backend's share is not overhead


def test_streams_observe_time_to_first_token(gateway, client, fake_ollama, metrics):
    fake_ollama.reply = Reply(content="one two three four", first_token_delay=0.2)
    before = metrics()
    stream = client.chat.completions.create(model="llama3", messages=HI, stream=True)
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices) == "one two three four"
    settle_logs(gateway)
    after = metrics()
    log = RequestLog.objects.get()
    assert (
        after.value("ollamaweb_time_to_first_token_seconds_count", model="llama3:latest")
        - before.value("ollamaweb_time_to_first_token_seconds_count", model="llama3:latest")
        == 1
    )
    ttft = after.value("ollamaweb_time_to_first_token_seconds_sum", model="llama3:latest") - before.value(
        "ollamaweb_time_to_first_token_seconds_sum", model="llama3:latest"
    )
    assert ttft == pytest.approx(log.ttft_ms / 1000) and ttft >= 0.2
    # The fast bucket did not get it; the 0.25 s one (cumulative) did.
    fast = {"model": "llama3:latest", "le": "0.1"}
    assert after.value("ollamaweb_time_to_first_token_seconds_bucket", **fast) == before.value(
        "ollamaweb_time_to_first_token_seconds_bucket", **fast
    )
    expected = gpu_ns(log.prompt_tokens, log.completion_tokens, first_token_delay=0.2) / 1e9
    gpu = after.value("ollamaweb_gpu_seconds_total", model="llama3:latest") - before.value(
        "ollamaweb_gpu_seconds_total", model="llama3:latest"
    )
    assert gpu == pytest.approx(expected)


def test_errors_refusals_and_unknown_models_are_bounded_labels(gateway, client, fake_ollama, user, metrics):
    before = metrics()
    for i in range(3):  # random model names must not become label values
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model=f"no-such-model-{i}", messages=HI)
    fake_ollama.reply = Reply(status=500, error="model runner crashed")
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="llama3", messages=HI)
    fake_ollama.reply = Reply()
    refused_by_the_minute_limit(client, user)
    settle_logs(gateway)
    after = metrics()

    models = {ls["model"] for ls in after.labelsets("ollamaweb_requests_total")}
    assert not any(m.startswith("no-such-model") for m in models)
    assert (
        after.value("ollamaweb_requests_total", model="other", status_class="4xx")
        - before.value("ollamaweb_requests_total", model="other", status_class="4xx")
        == 3
    )
    assert (
        after.value("ollamaweb_requests_total", **CHAT, status_class="5xx")
        - before.value("ollamaweb_requests_total", **CHAT, status_class="5xx")
        == 1
    )
    assert (
        after.value("ollamaweb_backend_errors_total", kind="error")
        - before.value("ollamaweb_backend_errors_total", kind="error")
        == 1
    )
    limit = {"limit": "requests_per_minute"}
    assert (
        after.value("ollamaweb_quota_refusals_total", **limit) - before.value("ollamaweb_quota_refusals_total", **limit)
        == 1
    )


def test_a_client_disconnect_is_counted(gateway, api_key, fake_ollama, metrics):
    fake_ollama.reply = Reply(content=" ".join(f"w{i}" for i in range(100)), token_delay=0.05)
    before = metrics()
    body = {"model": "llama3", "messages": HI, "stream": True}
    with httpx.Client(base_url=gateway.url, timeout=10) as http:
        headers = {"Authorization": f"Bearer {api_key[1]}"}
        with http.stream("POST", "/v1/chat/completions", json=body, headers=headers) as response:
            for data in response.iter_bytes():
                if b"w1" in data:
                    break
    fake_ollama.wait_for(lambda: fake_ollama.cancelled == 1, timeout=2)
    settle_logs(gateway)
    after = metrics()
    labels = {"endpoint": "chat.completions", "model": "llama3:latest", "stream": "true"}
    assert (
        after.value("ollamaweb_client_disconnects_total", **labels)
        - before.value("ollamaweb_client_disconnects_total", **labels)
        == 1
    )


def test_log_writer_lag_is_observed(gateway, client, metrics):
    before = metrics()
    client.chat.completions.create(model="llama3", messages=HI)
    settle_logs(gateway)
    after = metrics()
    assert (
        after.value("ollamaweb_log_writer_lag_seconds_count") - before.value("ollamaweb_log_writer_lag_seconds_count")
        == 1
    )
    assert "ollamaweb_log_writer_pending" in after.text


def test_rows_set_aside_are_counted(gateway, client, metrics, poison_trigger):  # noqa: F811
    before = metrics()
    for name in ("a", "poison", "b", "poison", "c"):
        client.chat.completions.create(model="llama3", messages=HI, user=name)
    assert settle_logs(gateway) == 3
    after = metrics()
    name = "ollamaweb_log_rows_set_aside_total"
    assert after.value(name) - before.value(name) == 2
    assert after.value("ollamaweb_requests_total", **CHAT) - before.value("ollamaweb_requests_total", **CHAT) == 5


@pytest.fixture
def fakes(start_fake):
    return [start_fake() for _ in range(2)]


def test_backend_gauges_failover_and_queue_wait(gateway, async_client, client, fakes, metrics):
    a, b = fakes
    a.add_model("llama3", loaded=True)
    b.add_model("llama3")
    b.version = "0.9.0"
    set_backend("gpu-a", a.url, max_concurrent=1)
    set_backend("gpu-b", b.url)
    registry.invalidate()
    gateway.call(check_all(registry))
    scrape = metrics()
    assert scrape.value("ollamaweb_backend_up", backend="gpu-a") == 1
    assert scrape.value("ollamaweb_backend_info", backend="gpu-b", version="0.9.0") == 1
    assert scrape.value("ollamaweb_backend_models_loaded", backend="gpu-a") == 1
    assert scrape.value("ollamaweb_backend_models_loaded", backend="gpu-b") == 0
    assert scrape.value("ollamaweb_backend_models_present", backend="gpu-b") == 1
    memory = scrape.value("ollamaweb_backend_model_memory_bytes", backend="gpu-a", model="llama3:latest", kind="vram")
    assert memory > 0

    # Two concurrent requests on gpu-a (max_concurrent=1, has the model loaded): one waits for the other.
    a.reply = Reply(content="slow", first_token_delay=0.3)
    before = metrics()

    async def two():
        await asyncio.gather(*(async_client.chat.completions.create(model="llama3", messages=HI) for _ in range(2)))

    asyncio.run(two())
    settle_logs(gateway)
    mid = metrics()
    waits = mid.value("ollamaweb_queue_wait_seconds_count", backend="gpu-a") - before.value(
        "ollamaweb_queue_wait_seconds_count", backend="gpu-a"
    )
    waited = mid.value("ollamaweb_queue_wait_seconds_sum", backend="gpu-a") - before.value(
        "ollamaweb_queue_wait_seconds_sum", backend="gpu-a"
    )
    assert waits == 2 and waited >= 0.25

    # gpu-a busy: the request fails over to gpu-b.
    a.busy = True
    client.chat.completions.create(model="llama3", messages=HI)
    settle_logs(gateway)
    after = metrics()
    assert (
        after.value("ollamaweb_failovers_total", model="llama3:latest")
        - mid.value("ollamaweb_failovers_total", model="llama3:latest")
        == 1
    )
    assert (
        after.value("ollamaweb_backend_errors_total", backend="gpu-a", kind="busy")
        - mid.value("ollamaweb_backend_errors_total", backend="gpu-a", kind="busy")
        == 1
    )
    assert (
        after.value("ollamaweb_requests_total", backend="gpu-b", status_class="2xx")
        - mid.value("ollamaweb_requests_total", backend="gpu-b", status_class="2xx")
        == 1
    )


def test_the_token_protects_metrics(gateway, settings):
    settings.METRICS_TOKEN = "s3cret-token"
    url = gateway.url + "/metrics"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    response = httpx.get(url, headers={"Authorization": "Bearer s3cret-token"})
    assert response.status_code == 200 and "ollamaweb_requests_total" in response.text
    settings.METRICS_ENABLED = False
    assert httpx.get(url, headers={"Authorization": "Bearer s3cret-token"}).status_code == 404


def test_metrics_do_not_need_a_session_or_touch_the_api_log(gateway, metrics):
    metrics()
    metrics()
    assert settle_logs(gateway) == 0  # scrapes are not API requests
    response = httpx.post(gateway.url + "/metrics")
    assert response.status_code == 405
    assert json.dumps  # keep the import honest
