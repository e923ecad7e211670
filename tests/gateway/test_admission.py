"""Admission reserves what a request may really cost, and a small quota still allows short calls."""

import asyncio

import httpx
import openai
import pytest

from ollamaweb.gateway.estimate import prompt_estimate
from ollamaweb.quotas import services as quota_services
from ollamaweb.usage.models import RequestLog
from tests.conftest import settle_logs
from tests.fake_ollama import Reply

HI = [{"role": "user", "content": "hi"}]
BIG_TOOL = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "x" * 250_000,
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
    },
}


def test_the_estimate_covers_tools_schemas_images_and_cjk():
    hi = prompt_estimate("/api/chat", {"messages": HI})
    with_tools = prompt_estimate("/api/chat", {"messages": HI, "tools": [BIG_TOOL]})
    with_schema = prompt_estimate("/api/chat", {"messages": HI, "format": {"description": "y" * 250_000}})
    with_image = prompt_estimate("/api/chat", {"messages": [{**HI[0], "images": ["aGk=" * 100_000]}]})
    cjk = prompt_estimate("/api/chat", {"messages": [{"role": "user", "content": "漢" * 3000}]})
    assert with_tools > 80_000 and with_schema > 80_000  # ~3 bytes a token, erring high
    assert with_image == hi + 1024  # a fixed cost per image (OLLAMAWEB_IMAGE_TOKEN_COST), not its bytes
    assert cjk >= 3000  # one token per CJK character at least


def test_large_requests_cannot_hide_behind_a_short_message(gateway, fake_ollama, user, api_key):
    quota_services.set_limits(user=user, tokens_per_day=1000)
    body = {"model": "llama3", "messages": HI, "tools": [BIG_TOOL], "max_tokens": 10}

    async def fire():
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
            headers = {"Authorization": f"Bearer {api_key[1]}"}
            return await asyncio.gather(
                *(http.post("/v1/chat/completions", json=body, headers=headers) for _ in range(20))
            )

    responses = asyncio.run(fire())
    assert {response.status_code for response in responses} == {429}
    assert fake_ollama.counts_for("/api/chat") == 0


def test_a_small_quota_allows_a_short_call(client, gateway, fake_ollama, user):
    fake_ollama.reply = Reply(tokens=["word"] * 1000)
    quota_services.set_limits(user=user, tokens_per_day=400)

    answer = client.chat.completions.create(model="llama3", messages=HI)  # no max_tokens

    room = 400 - prompt_estimate("/api/chat", {"messages": HI})
    assert fake_ollama.requests[-1].json["options"]["num_predict"] == room
    assert answer.choices[0].finish_reason == "length" and answer.usage.completion_tokens == room


def test_a_refusal_says_how_much_remains_and_how_to_fit(client, gateway, fake_ollama, user):
    fake_ollama.reply = Reply(content="x", prompt_eval_count=10, eval_count=20)
    quota_services.set_limits(user=user, tokens_per_day=40)
    client.chat.completions.create(model="llama3", messages=HI, max_tokens=20)
    settle_logs(gateway)

    long_prompt = [{"role": "user", "content": "please " * 40}]
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model="llama3", messages=long_prompt, max_tokens=5)

    message = refused.value.body["message"]
    assert "10 remain" in message and "shorten it" in message


def test_every_response_carries_its_request_id(client, gateway, fake_ollama):
    answer = client.chat.completions.with_raw_response.create(model="llama3", messages=HI)
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="nope", messages=HI)

    settle_logs(gateway)
    ids = {row.status: row.request_id for row in RequestLog.objects.all()}
    assert answer.request_id == answer.headers["x-request-id"] == ids[200]
    assert missing.value.request_id == ids[404]
    assert ids[200].startswith("req_") and ids[200] != ids[404]


def test_a_quota_that_keeps_shrinking_under_a_request_is_a_429_not_a_crash(client, gateway, fake_ollama, monkeypatch):
    """Each try fits what remained at the last one, and others keep taking it: after the last try
    the refusal stands (one refusal counted), in the client's protocol shape."""
    from ollamaweb.gateway import pipeline
    from ollamaweb.metrics import tracing
    from ollamaweb.quotas import limiter

    tries, refusals = [], []

    async def always_a_little_less(payer, model, tokens, gpu_ms=0):
        tries.append(tokens)
        raise limiter.LimitExceeded("over", "insufficient_quota", 1, {}, remaining=tokens - 1, limit="tokens_per_day")

    monkeypatch.setattr(limiter, "admit", always_a_little_less)
    monkeypatch.setattr(tracing, "refused", lambda record, limit: refusals.append(limit))
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model="llama3", messages=HI, max_tokens=100)
    assert refused.value.status_code == 429 and refused.value.body["code"] == "insufficient_quota"
    assert len(tries) == pipeline.ADMISSION_ATTEMPTS and tries == sorted(tries, reverse=True)
    assert refusals == ["tokens_per_day"]
