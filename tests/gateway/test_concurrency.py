"""Many concurrent requests through one gateway process: no cross-talk, every one counted exactly once."""

import asyncio

import pytest
from django.contrib.auth import get_user_model

from ollamaweb.usage.models import RequestLog
from tests.conftest import settle_logs
from tests.fake_ollama import Reply

REQUESTS = 40


@pytest.fixture
def user(transactional_db):
    """alice without a password (hashing one costs ~0.3 s a test; these tests only use API keys)."""
    return get_user_model().objects.create_user("alice")


def reply_for_request(path, body):
    """Each request gets its own answer and counts, derived from its prompt `request <i>`."""
    i = int(body["messages"][0]["content"].split()[-1])
    return Reply(
        content=f"answer number {i} for you",
        first_token_delay=0.3,
        token_delay=0.01,
        prompt_eval_count=100 + i,
        eval_count=10 + i,
    )


def test_40_concurrent_requests_half_streaming(async_client, gateway, fake_ollama):
    fake_ollama.responder = reply_for_request

    async def one(i):
        kwargs = {"model": "llama3", "messages": [{"role": "user", "content": f"request {i}"}], "user": f"u{i}"}
        if i % 2:
            stream = await async_client.chat.completions.create(
                **kwargs, stream=True, stream_options={"include_usage": True}
            )
            chunks = [chunk async for chunk in stream]
            text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
            assert chunks[-2].choices[0].finish_reason == "stop"
            return text, chunks[-1].usage, len({chunk.id for chunk in chunks})
        completion = await async_client.chat.completions.create(**kwargs)
        return completion.choices[0].message.content, completion.usage, 1

    async def run():
        async with async_client:
            return await asyncio.gather(*(one(i) for i in range(REQUESTS)))

    results = asyncio.run(run())

    for i, (text, usage, ids) in enumerate(results):
        assert text == f"answer number {i} for you"
        assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (100 + i, 10 + i, 110 + 2 * i)
        assert ids == 1
    assert fake_ollama.counts_for("/api/chat") == REQUESTS
    fake_ollama.wait_for(lambda: fake_ollama.completed == REQUESTS, timeout=2.0)
    assert fake_ollama.max_active > REQUESTS // 2  # they really ran at the same time
    prompts = sorted(request.json["messages"][0]["content"] for request in fake_ollama.requests)
    assert prompts == sorted(f"request {i}" for i in range(REQUESTS))

    assert settle_logs(gateway) == REQUESTS
    rows = {row.client_user: row for row in RequestLog.objects.all()}
    assert len(rows) == REQUESTS
    for i in range(REQUESTS):
        row = rows[f"u{i}"]
        assert (row.status, row.error, row.stream) == (200, "", bool(i % 2))
        assert (row.prompt_tokens, row.completion_tokens, row.usage_source) == (100 + i, 10 + i, "measured")
        assert (row.ttft_ms is not None) == bool(i % 2)  # time to first token: streams only
