"""A client that leaves while its quota reservation is under way keeps nothing of it.

A reservation sent to the store cannot be taken back: the database thread or Redis goes on and
makes it even if the request that asked for it is cancelled meanwhile. Without its admission the
request's settlement gave back nothing, so a concurrency slot stayed taken for as long as the
process lived (a user with `max_concurrent=1` was locked out by one impatient client), and the
reserved tokens stayed reserved until the period ended.
"""

import asyncio
import contextlib
import threading
import time

import httpx
import psycopg
import pytest
import redis
from django.db import connection

from ollamaweb.core import redis_pass
from ollamaweb.core.tasks import CancelledAfterward
from ollamaweb.quotas import limiter
from ollamaweb.quotas.counters import CONCURRENT, TOKENS, USER, Scope
from ollamaweb.quotas.models import UsageCounter
from ollamaweb.quotas.policy import Payer, ScopeLimits
from ollamaweb.quotas.stores import RedisStore, current_store
from ollamaweb.usage.models import RequestLog
from tests.conftest import settle_logs
from tests.quotas.helpers import HI, counters_when, set_policy
from tests.services import redis_url_or_skip
from tests.sqlite_lock import write_lock_held

pytestmark = pytest.mark.stores
BUSY_SCRIPT = """
local function now() local t = redis.call('TIME') return tonumber(t[1]) + tonumber(t[2]) / 1e6 end
local start = now()
while now() - start < tonumber(ARGV[1]) do end
return 1
"""


@contextlib.contextmanager
def reservations_delayed():
    """Reservations wait in the store until the block ends: SQLite's write lock or a lock on
    PostgreSQL's counters table held by another connection, or Redis's writes paused."""
    store = current_store()
    if isinstance(store, RedisStore):
        # redis-py closes the connection of a cancelled command, so Redis mostly drops it unrun; the
        # unit test below aims at the window where it has run and its answer is on its way.
        # A script that keeps Redis busy: the reservation waits in the connection's buffer, and is
        # run after it even if the client has closed the connection meanwhile.
        client = redis.Redis.from_url(store.url)
        busy = threading.Thread(target=client.eval, args=(BUSY_SCRIPT, 0, 1.2))
        busy.start()
        time.sleep(0.1)
        try:
            yield
        finally:
            busy.join()
            client.close()
    elif connection.vendor == "sqlite":
        with write_lock_held():
            yield
    else:
        locked, release = threading.Event(), threading.Event()

        def hold():
            settings = connection.settings_dict
            with psycopg.connect(
                host=settings["HOST"], port=settings["PORT"], dbname=settings["NAME"], user=settings["USER"]
            ) as other:
                other.execute("LOCK TABLE quotas_usagecounter IN EXCLUSIVE MODE")
                locked.set()
                release.wait(10)

        holder = threading.Thread(target=hold)
        holder.start()
        locked.wait(10)
        try:
            yield
        finally:
            release.set()
            holder.join()


def test_a_client_leaving_during_its_reservation_keeps_no_slot_and_no_tokens(
    store, gateway, fake_ollama, user, api_key
):
    set_policy(user, max_concurrent=1, tokens_per_day=10_000)
    body = {"model": "llama3", "messages": HI, "max_tokens": 20}
    headers = {"Authorization": f"Bearer {api_key[1]}"}
    with reservations_delayed():
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{gateway.url}/v1/chat/completions", json=body, headers=headers, timeout=0.5)
        time.sleep(0.3)  # the gateway has seen the client leave; its reservation still waits
    settle_logs(gateway)

    # The reservation was made after the client left, and given back with its settlement.
    response = httpx.post(f"{gateway.url}/v1/chat/completions", json=body, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    settle_logs(gateway)
    used = counters_when(f"t:u{user.pk}:", 1)
    assert list(used.values()) == [response.json()["usage"]["total_tokens"]]
    assert reserved_tokens(f"t:u{user.pk}:") == 0  # the reservation of the one that left was given back
    left = RequestLog.objects.get(status=499)
    assert (left.api_key_id, left.total_tokens) == (api_key[0].pk, 0)  # logged, and charged nothing: no backend call


def reserved_tokens(prefix: str) -> int:
    """What the token counters starting with `prefix` still hold reserved, in the gateway's store."""
    store = current_store()
    if isinstance(store, RedisStore):
        client = redis.Redis.from_url(store.url)
        try:
            return sum(int(client.hget(key, "reserved") or 0) for key in client.scan_iter(store.prefix + prefix + "*"))
        finally:
            client.close()
    return sum(UsageCounter.objects.filter(key__startswith=prefix).values_list("reserved", flat=True))


def test_redis_a_reservation_answered_after_its_caller_left_comes_back_as_an_admission(monkeypatch):
    """The window the end-to-end test cannot aim at with Redis: the script has run, its answer is
    still on its way, and the caller is cancelled. The admission comes back with the cancellation
    (for the request's settlement to give back), and the connection slot was held until the answer."""
    store = RedisStore(redis_url_or_skip())
    round_trip = redis_pass._round_trip

    async def answered_late(connection, commands):
        replies = await round_trip(connection, commands)
        if commands[0][0] == "EVALSHA":
            await asyncio.sleep(0.2)  # the answer in flight
        return replies

    async def limits_for(payer, model):
        return (ScopeLimits(Scope(USER, payer.user_id), tokens_per_day=1000, max_concurrent=1),)

    monkeypatch.setattr(redis_pass, "_round_trip", answered_late)
    monkeypatch.setattr(limiter, "current_store", lambda: store)
    monkeypatch.setattr(limiter.policy_table, "limits_for", limits_for)

    async def scenario():
        client = store._client()
        admitting = asyncio.ensure_future(limiter.admit(Payer(13579, None), "llama3", 30))
        await asyncio.sleep(0.1)
        admitting.cancel()
        with pytest.raises(CancelledAfterward) as cancelled:
            await admitting
        admission = cancelled.value.result
        keys = {check.kind: store.prefix + check.counter for check in admission.checks}
        try:
            slots_taken = await client.zcard(keys[CONCURRENT])
            await store.release(admission.checks, admission.member)
            await store.settle([(admission.member, admission.settlement(0, 0))])
            return (
                admission,
                slots_taken,
                await client.zcard(keys[CONCURRENT]),
                await client.hget(keys[TOKENS], "reserved"),
            )
        finally:
            await client.delete(*keys.values())
            await client.aclose()

    admission, slots_taken, slots_after, reserved_after = asyncio.run(scenario())
    assert sorted(admission.remaining.values()) == [0, 970]
    assert (slots_taken, slots_after, int(reserved_after)) == (1, 0, 0)
