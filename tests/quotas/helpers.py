"""Helpers of the quota tests: policies, and bursts of concurrent requests."""

import asyncio
import time

import httpx
import openai
import pytest
import redis
from asgiref.sync import async_to_sync

from ollamaweb.quotas.models import QuotaPolicy, UsageCounter
from ollamaweb.quotas.policy import policy_table
from ollamaweb.quotas.services import set_limits
from ollamaweb.quotas.stores import RedisStore, current_store

HI = [{"role": "user", "content": "hi"}]
# The gateway reserves estimate(prompt) + max_tokens: 8 per message + 6 bytes ("user", "hi") / 3 = 10, plus 20.
COST = 30


def set_policy(user=None, team=None, api_key=None, **limits):
    """The limits of everyone's (no user, team or key), a user's, a team's or a key's policy."""
    model = limits.pop("model", "")
    QuotaPolicy.objects.update_or_create(user=user, team=team, api_key=api_key, model=model, defaults=limits)
    policy_table.invalidate()


def wait_for_minute_headroom(seconds=8):
    """Wait, if need be, for a fresh minute: requests-per-minute counters are per calendar minute,
    so requests counted across its end would start again from zero."""
    if 60 - time.time() % 60 < seconds:
        time.sleep(60 - time.time() % 60 + 0.1)


def refused_by_the_minute_limit(client, user):
    """With a limit of one request a minute for `user`, one chat request through the openai `client` is
    served and the next is refused with a 429."""
    set_limits(user=user, requests_per_minute=1)
    wait_for_minute_headroom()
    client.chat.completions.create(model="llama3", messages=HI)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="llama3", messages=HI)


async def fire(url, secret, count, body=None, stream=False):
    """`count` concurrent chat requests; returns the responses (status, headers, json)."""
    body = body or {"model": "llama3", "messages": HI, "max_tokens": 20, "stream": stream}
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:

        async def one():
            response = await http.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {secret}"})
            return response.status_code, response.headers, response.content

        return await asyncio.gather(*(one() for _ in range(count)))


def counters_when(prefix: str, count: int, timeout: float = 5.0) -> dict[str, int]:
    """counters(prefix) once there are `count` of them (Redis counters settle after the log rows)."""
    deadline = time.monotonic() + timeout
    while len(found := counters(prefix)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def counters(prefix: str) -> dict[str, int]:
    """{counter: used} of the counters starting with `prefix`, in the store the gateway uses."""
    store = current_store()
    if isinstance(store, RedisStore):
        client = redis.Redis.from_url(store.url)
        try:
            names = [key.decode().removeprefix(store.prefix) for key in client.scan_iter(store.prefix + prefix + "*")]
        finally:
            client.close()
    else:
        names = list(UsageCounter.objects.filter(key__startswith=prefix).values_list("key", flat=True))
    return async_to_sync(store.usage)(names) if names else {}
