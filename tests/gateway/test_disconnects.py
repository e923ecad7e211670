"""A client that goes away stops the backend generation at once, leaves a 499 log row, and is
charged for what the backend did: the prompt (estimated) and the tokens generated so far."""

import json

import httpx
import pytest
from django.contrib.auth import get_user_model

from ollamaweb.gateway.estimate import prompt_estimate
from tests.conftest import only_log
from tests.fake_ollama import Reply

HELLO = [{"role": "user", "content": "Say hello"}]
HELLO_ESTIMATE = prompt_estimate("/api/chat", {"messages": HELLO})  # what an unfinished call is charged
LONG = " ".join(f"word{i}" for i in range(100))  # 100 tokens: 5 s at token_delay=0.05


@pytest.fixture
def user(transactional_db):
    """alice without a password (hashing one costs ~0.3 s a test; these tests only use API keys)."""
    return get_user_model().objects.create_user("alice")


def read_events_then_leave(gateway, secret, body, count):
    """Stream a chat request, read `count` SSE events, then close the connection; returns the events."""
    events, buffer = [], b""
    with httpx.Client(base_url=gateway.url, timeout=10) as http:
        headers = {"Authorization": f"Bearer {secret}"}
        with http.stream("POST", "/v1/chat/completions", json=body, headers=headers) as response:
            assert response.status_code == 200
            for data in response.iter_bytes():
                buffer += data
                while b"\n\n" in buffer and len(events) < count:
                    block, buffer = buffer.split(b"\n\n", 1)
                    events.append(json.loads(block.removeprefix(b"data: ")))
                if len(events) >= count:
                    break
    return events


def test_stream_disconnect_cancels_the_backend_and_logs_a_499(gateway, api_key, fake_ollama):
    fake_ollama.reply = Reply(content=LONG, token_delay=0.05)
    body = {"model": "llama3", "messages": HELLO, "stream": True, "stream_options": {"include_usage": True}}

    events = read_events_then_leave(gateway, api_key[1], body, 2)

    assert [event["choices"][0]["delta"]["content"] for event in events] == ["word0", " word1"]
    fake_ollama.wait_for(lambda: (fake_ollama.cancelled, fake_ollama.active) == (1, 0), timeout=1.0)
    assert fake_ollama.completed == 0
    log = only_log(gateway)
    assert (log.status, log.error, log.stream, log.usage_source) == (499, "client disconnected", True, "counted")
    assert 2 <= log.completion_tokens < 20  # the pieces delivered: at least what the client read, not all 100
    assert log.prompt_tokens > 0  # estimated: the backend never reported a count
    assert log.ttft_ms is not None and log.ttft_ms <= log.latency_ms < 1500


def test_n_2_stream_disconnect_cancels_both_backend_streams(gateway, api_key, fake_ollama):
    fake_ollama.reply = Reply(content=LONG, token_delay=0.05)
    body = {"model": "llama3", "messages": HELLO, "stream": True, "n": 2}

    events = read_events_then_leave(gateway, api_key[1], body, 4)

    assert {event["choices"][0]["index"] for event in events} == {0, 1}
    fake_ollama.wait_for(lambda: (fake_ollama.cancelled, fake_ollama.active) == (2, 0), timeout=1.0)
    assert (fake_ollama.completed, fake_ollama.counts_for("/api/chat")) == (0, 2)
    log = only_log(gateway)
    assert (log.status, log.stream, log.usage_source) == (499, True, "counted")
    assert 4 <= log.completion_tokens < 40


def test_disconnect_before_the_first_token_of_a_stream_logs_a_499(gateway, api_key, fake_ollama):
    fake_ollama.reply = Reply(content=LONG, first_token_delay=10)
    body = {"model": "llama3", "messages": HELLO, "stream": True}

    with httpx.Client(base_url=gateway.url, timeout=0.3) as http, pytest.raises(httpx.ReadTimeout):
        http.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {api_key[1]}"})

    fake_ollama.wait_for(lambda: fake_ollama.cancelled == 1, timeout=1.0)
    log = only_log(gateway)
    assert (log.status, log.error, log.stream) == (499, "client disconnected", True)
    # The backend had the prompt: leaving before the first token is not free.
    assert (log.completion_tokens, log.usage_source, log.ttft_ms) == (0, "estimated", None)
    assert log.prompt_tokens == HELLO_ESTIMATE


def test_non_streaming_disconnect_cancels_the_backend_call(gateway, api_key, fake_ollama):
    fake_ollama.reply = Reply(hang_after=0)
    body = {"model": "llama3", "messages": HELLO}

    with httpx.Client(base_url=gateway.url, timeout=0.3) as http, pytest.raises(httpx.ReadTimeout):
        http.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {api_key[1]}"})

    fake_ollama.wait_for(lambda: (fake_ollama.cancelled, fake_ollama.active) == (1, 0), timeout=1.0)
    log = only_log(gateway)
    assert (log.status, log.error, log.stream) == (499, "client disconnected", False)
    assert (log.prompt_tokens, log.completion_tokens, log.usage_source) == (HELLO_ESTIMATE, 0, "estimated")


def test_non_streaming_request_abandoned_mid_generation_is_charged_for_the_tokens_generated(
    gateway, api_key, fake_ollama
):
    fake_ollama.reply = Reply(content=LONG, token_delay=0.02)
    body = {"model": "llama3", "messages": HELLO}

    with httpx.Client(base_url=gateway.url, timeout=0.5) as http, pytest.raises(httpx.ReadTimeout):
        http.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {api_key[1]}"})

    fake_ollama.wait_for(lambda: (fake_ollama.cancelled, fake_ollama.active) == (1, 0), timeout=2.0)
    log = only_log(gateway)
    assert (log.status, log.stream, log.usage_source) == (499, False, "counted")
    # About 0.5 s of generation at 50 tokens/s: the tokens the backend generated before the client left.
    assert 5 <= log.completion_tokens < 100
    assert log.prompt_tokens == HELLO_ESTIMATE


def test_abandoned_requests_settle_the_quota_they_used(gateway, api_key, fake_ollama):
    from ollamaweb.quotas import services as quota_services
    from ollamaweb.quotas.models import UsageCounter

    quota_services.set_limits(user=api_key[0].user, tokens_per_day=100_000)
    fake_ollama.reply = Reply(content=LONG, token_delay=0.02)
    body = {"model": "llama3", "messages": HELLO, "max_tokens": 1000}

    with httpx.Client(base_url=gateway.url, timeout=1.5) as http, pytest.raises(httpx.ReadTimeout):
        http.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {api_key[1]}"})

    log = only_log(gateway)
    [counter] = UsageCounter.objects.filter(key__startswith=f"t:u{api_key[0].user_id}:d:")
    assert counter.reserved == 0  # the reservation is settled, not left hanging
    assert log.completion_tokens > 0
    assert counter.used == log.prompt_tokens + log.completion_tokens
