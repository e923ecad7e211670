"""GPU-time quotas: reserve an estimate on admission, settle to what Ollama measured, on every store.

The fake Ollama reports total_duration = load (1 ms + first_token_delay) + 0.2 ms a prompt token
+ (10 ms + token_delay) an output token (tests/fake_ollama.py, _metrics).
"""

import asyncio

import openai
import pytest

from ollamaweb.gateway.gpu_time import gpu_rates
from ollamaweb.quotas.models import UsageCounter
from ollamaweb.usage.models import RequestLog, UsageRollup
from tests.conftest import only_log, settle_logs
from tests.fake_ollama import Reply
from tests.quotas.helpers import HI, counters_when, fire, set_policy

pytestmark = pytest.mark.stores


@pytest.fixture(autouse=True)
def unmeasured_models():
    """Each test starts with no model measured (the settings' estimates)."""
    gpu_rates.forget()
    yield
    gpu_rates.forget()


def test_a_gpu_quota_holds_under_concurrency(store, gateway, client, fake_ollama, user, api_key):
    """203 ms of GPU time a request, a 5 s quota, 120 at once once the model's speed is known:
    about 24 are served, and what they used together stays within the quota, but for the 1 ms of
    loading each (charged, never estimated)."""
    fake_ollama.reply = Reply(tokens=["x"] * 20, prompt_eval_count=10)
    set_policy(user, gpu_seconds_per_day=5)
    client.chat.completions.create(model="llama3", messages=HI, max_tokens=20)  # measures the model
    settle_logs(gateway)  # its reservation (at the unmeasured defaults, ~1 s) settled to the 203 ms it used

    results = asyncio.run(fire(gateway.url, api_key[1], 120))
    statuses = [status for status, _, _ in results]
    assert statuses.count(200) + statuses.count(429) == 120 and statuses.count(429) > 0
    settle_logs(gateway)
    served = RequestLog.objects.filter(status=200)
    used_ms = sum(log.gpu_ms for log in served)
    assert used_ms == sum(round(log.total_duration_ms) for log in served)  # charged what Ollama measured
    assert 0.9 * 5000 <= used_ms <= 5000 + served.count(), (
        used_ms,
        sorted((log.gpu_ms, log.completion_tokens, log.prompt_tokens) for log in served),
    )
    refused = next(content for status, _, content in results if status == 429)
    assert b"GPU-time quota" in refused and b'"type":"insufficient_quota"' in refused


def test_settles_to_the_measured_gpu_time_and_gives_back_the_reservation(store, gateway, client, fake_ollama, user):
    fake_ollama.reply = Reply(content="x", prompt_eval_count=10, eval_count=4)
    set_policy(user, gpu_seconds_per_day=3600, gpu_seconds_per_month=36000)
    client.chat.completions.create(model="llama3", messages=HI, max_tokens=20)
    row = only_log(gateway)
    assert row.gpu_ms == round(row.total_duration_ms) == 43  # 1 + 2 + 40 ms
    assert sorted(counters_when("gpu:u", 2).values()) == [43, 43]  # today's and this month's
    if store == "database":
        assert set(UsageCounter.objects.filter(key__startswith="gpu:").values_list("reserved", flat=True)) == {0}
    assert UsageRollup.objects.get().gpu_ms == 43


def test_a_small_gpu_budget_shrinks_max_tokens_instead_of_refusing(gateway, client, fake_ollama, user, settings):
    """Unmeasured, a call is estimated at 2 ms a prompt token and 50 ms an output token: with
    1 s left, a request asking for 100 output tokens is admitted with about 19."""
    settings.GPU_MS_PER_PROMPT_TOKEN, settings.GPU_MS_PER_OUTPUT_TOKEN = 2.0, 50.0
    fake_ollama.reply = Reply(tokens=["x"] * 100, prompt_eval_count=10)
    set_policy(user, gpu_seconds_per_day=1)
    answer = client.chat.completions.create(model="llama3", messages=HI, max_tokens=100)
    sent = [r for r in fake_ollama.requests if r.path == "/api/chat"][-1].json["options"]["num_predict"]
    assert sent == (1000 - 10 * 2) // 50  # the prompt is estimated at 10 tokens
    assert answer.usage.completion_tokens == sent and answer.choices[0].finish_reason == "length"


def test_a_refusal_says_how_to_fit(gateway, client, fake_ollama, user, settings):
    settings.GPU_MS_PER_PROMPT_TOKEN = 200.0  # this prompt alone: 2 s
    set_policy(user, gpu_seconds_per_day=1)
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model="llama3", messages=HI, max_tokens=5)
    message = refused.value.body["message"]
    assert "daily GPU-time quota (1.0 GPU-seconds)" in message
    assert "This prompt needs more GPU time than remains" in message


def test_a_stream_the_client_leaves_is_charged_the_time_the_backend_worked(gateway, client, fake_ollama, user):
    fake_ollama.reply = Reply(tokens=["x"] * 50, token_delay=0.05)
    set_policy(user, gpu_seconds_per_day=3600)
    stream = client.chat.completions.create(model="llama3", messages=HI, stream=True, max_tokens=50)
    for _ in zip(range(4), stream):
        pass
    stream.close()
    row = only_log(gateway)
    assert row.total_duration_ms is None and row.usage_source == RequestLog.UsageSource.COUNTED
    assert 150 <= row.gpu_ms <= 2000  # ~4 tokens at 50 ms, not the 2.5 s a whole answer takes
    assert list(counters_when("gpu:u", 1).values()) == [row.gpu_ms]


def test_gpu_estimates_are_learned_per_model(gateway, client, fake_ollama, user):
    fake_ollama.reply = Reply(content="x", prompt_eval_count=10, eval_count=20)
    set_policy(user, gpu_seconds_per_day=3600)
    client.chat.completions.create(model="llama3", messages=HI, max_tokens=20)
    settle_logs(gateway)
    rates = gateway.call(_rates("llama3"))
    assert rates.prompt_ms == pytest.approx(0.2) and rates.output_ms == pytest.approx(10.0)
    assert rates.estimate(10, 20) < 300  # from 1,020 ms before anything was measured


async def _rates(model):
    return gpu_rates.for_model(model)
