"""Quotas and rate limits through the real server: they hold under concurrency, on every store.

The same tests run on SQLite (the default run) and PostgreSQL (`make test` runs the quota
tests again with DATABASE_URL=postgres://…); the `store` fixture also runs each with Redis.
"""

import asyncio
import time

import openai
import pytest
from django.core.management import call_command

from ollamaweb.quotas.models import QuotaPolicy, UsageCounter
from ollamaweb.quotas.policy import policy_table
from ollamaweb.usage.models import RequestLog, UsageRollup
from tests.conftest import settle_logs
from tests.fake_ollama import Reply
from tests.quotas.helpers import COST, HI, counters_when, fire, set_policy, wait_for_minute_headroom
from tests.services import redis_url_or_skip

pytestmark = pytest.mark.stores


def test_token_quota_holds_under_300_concurrent_requests(store, gateway, fake_ollama, user, api_key):
    """The overshoot bound (README): concurrent requests never settle above the quota, because each
    reserves its estimated prompt (which errs high) plus a completion budget the backend obeys."""
    fake_ollama.reply = Reply(tokens=["x"] * 20, prompt_eval_count=10, first_token_delay=0.05)
    quota = 40 * COST
    set_policy(user, tokens_per_day=quota)

    results = asyncio.run(fire(gateway.url, api_key[1], 300))

    statuses = [status for status, _, _ in results]
    # 40 fit whole; later ones fit in what settled reservations gave back, with shorter budgets.
    assert statuses.count(200) >= 40
    assert statuses.count(200) + statuses.count(429) == 300
    settle_logs(gateway)
    logs = RequestLog.objects.filter(status=200)
    used = sum(log.prompt_tokens + log.completion_tokens for log in logs)
    assert 0.9 * quota <= used <= quota
    assert all(log.completion_tokens <= 20 for log in logs)
    refused = next(content for status, _, content in results if status == 429)
    assert b'"type":"insufficient_quota"' in refused


def test_refusal_is_openai_shaped_with_retry_after_and_ratelimit_headers(store, gateway, client, fake_ollama, user):
    fake_ollama.reply = Reply(content="x", prompt_eval_count=10, eval_count=20)
    set_policy(user, tokens_per_day=COST, requests_per_minute=1000)
    ok = client.chat.completions.with_raw_response.create(model="llama3", messages=HI, max_tokens=20)
    assert ok.headers["x-ratelimit-limit-tokens"] == str(COST)
    assert ok.headers["x-ratelimit-remaining-tokens"] == "0"
    assert ok.headers["x-ratelimit-limit-requests"] == "1000"
    assert ok.headers["x-ratelimit-remaining-requests"] == "999"
    assert ok.headers["x-ratelimit-reset-requests"].endswith("s")
    assert ok.headers["x-ratelimit-reset-tokens"].endswith("s")

    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model="llama3", messages=HI, max_tokens=20)
    error = refused.value
    assert error.status_code == 429
    assert error.body["type"] == "insufficient_quota" and error.body["code"] == "insufficient_quota"
    assert "resets at" in error.body["message"]
    assert 0 < int(error.response.headers["Retry-After"]) <= 86400
    assert error.response.headers["x-ratelimit-remaining-tokens"] == "0"


def test_settling_releases_the_unused_reservation(store, gateway, client, fake_ollama, user):
    fake_ollama.reply = Reply(content="x", prompt_eval_count=3, eval_count=2)
    set_policy(user, tokens_per_day=3 * COST)
    for _ in range(8):  # each reserves 25 but uses 5: far more than 3 requests fit over time
        client.chat.completions.create(model="llama3", messages=HI, max_tokens=20)
        settle_logs(gateway)
    assert RequestLog.objects.filter(status=200).count() == 8


def test_requests_per_minute_hold_under_concurrency(store, gateway, fake_ollama, user, api_key):
    wait_for_minute_headroom()
    set_policy(user, requests_per_minute=50)
    results = asyncio.run(fire(gateway.url, api_key[1], 300))
    statuses = [status for status, _, _ in results]
    assert statuses.count(200) == 50
    refused = [(headers, content) for status, headers, content in results if status == 429]
    assert b'"type":"rate_limit_exceeded"' in refused[0][1]
    assert 1 <= int(refused[0][0]["Retry-After"]) <= 60


def test_concurrency_limit_holds_and_frees_slots(store, gateway, fake_ollama, user, api_key):
    fake_ollama.reply = Reply(content="slow", first_token_delay=1.0)
    set_policy(user, max_concurrent=5)
    results = asyncio.run(fire(gateway.url, api_key[1], 60))
    statuses = [status for status, _, _ in results]
    assert fake_ollama.max_active == 5
    assert 5 <= statuses.count(200) <= 10  # a slot frees when a request ends, while late ones still arrive
    assert statuses.count(200) + statuses.count(429) == 60
    fake_ollama.reply = Reply(content="fast")
    deadline = time.monotonic() + 2
    while True:  # slots come back as soon as requests finish
        status = asyncio.run(fire(gateway.url, api_key[1], 5))
        if [s for s, _, _ in status] == [200] * 5 or time.monotonic() > deadline:
            break
    assert [s for s, _, _ in status] == [200] * 5


def test_per_model_limit_applies_only_to_that_model(store, gateway, client, fake_ollama, user):
    fake_ollama.add_model("qwen3:32b")
    fake_ollama.reply = Reply(content="x", prompt_eval_count=10, eval_count=20)
    set_policy(user, model="qwen3:32b", tokens_per_day=COST)
    client.chat.completions.create(model="qwen3:32b", messages=HI, max_tokens=20)
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model="qwen3:32b", messages=HI, max_tokens=20)
    assert "for model qwen3:32b" in refused.value.body["message"]
    for _ in range(3):
        client.chat.completions.create(model="llama3", messages=HI, max_tokens=20)


def test_default_policy_applies_to_everyone_and_a_user_policy_overrides_it(store, gateway, client, fake_ollama, user):
    fake_ollama.reply = Reply(content="x", prompt_eval_count=10, eval_count=20)
    set_policy(None, tokens_per_day=COST)
    client.chat.completions.create(model="llama3", messages=HI, max_tokens=20)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="llama3", messages=HI, max_tokens=20)
    set_policy(user, tokens_per_day=10 * COST)
    settle_logs(gateway)
    client.chat.completions.create(model="llama3", messages=HI, max_tokens=20)


def test_key_policy_is_tighter_than_the_users(store, gateway, client, fake_ollama, user, api_key):
    fake_ollama.reply = Reply(content="x", prompt_eval_count=10, eval_count=20)
    set_policy(user, tokens_per_day=100 * COST)
    QuotaPolicy.objects.create(api_key=api_key[0], requests_per_minute=2)
    policy_table.invalidate()
    wait_for_minute_headroom()
    client.chat.completions.create(model="llama3", messages=HI, max_tokens=20)
    client.chat.completions.create(model="llama3", messages=HI, max_tokens=20)
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model="llama3", messages=HI, max_tokens=20)
    assert "this API key's" in refused.value.body["message"]


def test_without_max_tokens_the_backend_is_capped_at_the_reservation(gateway, client, fake_ollama, user, settings):
    settings.QUOTA_DEFAULT_MAX_TOKENS = 7
    set_policy(user, tokens_per_day=1000)
    client.chat.completions.create(model="llama3", messages=HI)
    native = [r for r in fake_ollama.requests if r.path == "/api/chat"][-1].json
    assert native["options"]["num_predict"] == 7


def test_streams_settle_with_the_backends_final_counts(gateway, client, fake_ollama, user):
    fake_ollama.reply = Reply(content="a b c", prompt_eval_count=11, eval_count=13)
    set_policy(user, tokens_per_day=1000)
    for _ in client.chat.completions.create(model="llama3", messages=HI, max_tokens=20, stream=True):
        pass
    settle_logs(gateway)
    counter = UsageCounter.objects.get(key__startswith="t:u")
    assert (counter.used, counter.reserved) == (24, 0)
    log = RequestLog.objects.get()
    assert (log.prompt_tokens, log.completion_tokens, log.usage_source) == (11, 13, "measured")


def test_rollups_follow_requests(gateway, client, fake_ollama, user):
    fake_ollama.reply = Reply(content="x", prompt_eval_count=4, eval_count=6)
    for _ in range(3):
        client.chat.completions.create(model="llama3", messages=HI)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="missing", messages=HI)
    settle_logs(gateway)
    rollup = UsageRollup.objects.get(model="llama3")
    assert (rollup.requests, rollup.prompt_tokens, rollup.completion_tokens, rollup.errors) == (3, 12, 18, 0)
    assert UsageRollup.objects.get(model="missing").errors == 1


def test_redis_down_fails_closed_by_default_and_open_when_configured(gateway, client, fake_ollama, user, settings):
    set_policy(user, tokens_per_day=1000)
    settings.REDIS_URL = "redis://127.0.0.1:1"  # nothing listens there
    try:
        with pytest.raises(openai.InternalServerError) as refused:
            client.chat.completions.create(model="llama3", messages=HI)
        assert refused.value.status_code == 503
        assert refused.value.body["code"] == "quota_store_unavailable"
        settings.QUOTA_FAIL_OPEN = True
        assert client.chat.completions.create(model="llama3", messages=HI).choices[0].message.content
    finally:
        settings.REDIS_URL = ""


def test_redis_forgetting_its_scripts_fails_no_request(gateway, client, fake_ollama, user, settings):
    """The reservation and settlement scripts are sent by their SHA1: a Redis that restarted (and
    lost them) is given them again, and no request fails for it."""
    import redis

    settings.REDIS_URL = redis_url_or_skip()
    for key in redis.Redis.from_url(settings.REDIS_URL).scan_iter("ollamaweb:quota:*"):  # as the store fixture does
        redis.Redis.from_url(settings.REDIS_URL).delete(key)
    fake_ollama.reply = Reply(content="x", prompt_eval_count=3, eval_count=2)
    set_policy(user, tokens_per_day=1000)
    try:
        for _ in range(3):
            redis.Redis.from_url(settings.REDIS_URL).script_flush()
            client.chat.completions.create(model="llama3", messages=HI, max_tokens=20)
            settle_logs(gateway)
        used = counters_when(f"t:u{user.id}:", 1)
    finally:
        settings.REDIS_URL = ""
    assert list(used.values()) == [3 * 5]


def test_setquota_command_sets_and_clears_limits(transactional_db, user):
    call_command("setquota", "alice", "--tokens-per-day", "5000", "--requests-per-minute", "60")
    call_command("setquota", "alice", "--max-concurrent", "2")
    policy = QuotaPolicy.objects.get(user=user, model="")
    assert (policy.tokens_per_day, policy.requests_per_minute, policy.max_concurrent) == (5000, 60, 2)
    call_command("setquota", "alice", "--tokens-per-day", "none", "--requests-per-minute", "0")
    policy.refresh_from_db()
    assert (policy.tokens_per_day, policy.requests_per_minute, policy.max_concurrent) == (None, None, 2)
    call_command("setquota", "alice", "--model", "qwen3:32b", "--tokens-per-day", "50000")
    assert QuotaPolicy.objects.get(user=user, model="qwen3:32b").tokens_per_day == 50000
    call_command("setquota", "*", "--tokens-per-month", "1000000")
    assert QuotaPolicy.objects.get(user=None, api_key=None, model="").tokens_per_month == 1000000
