"""A crashed gateway process locks nobody out: its concurrency slots and token reservations carry
leases, and are given back (by the next process at start-up, or by any process's heartbeat) once
its heartbeat is older than OLLAMAWEB_QUOTA_LEASE_SECONDS. Each hold is given back exactly once.

The crash test runs a real gateway (uvicorn) on SQLite, or on PostgreSQL when DATABASE_URL points
there (`make test`), with counters in the database and then in Redis, and SIGKILLs it.
"""

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest
from django.conf import settings
from django.utils import timezone

from ollamaweb.quotas import leases
from ollamaweb.quotas.checks import plan_checks
from ollamaweb.quotas.counters import CONCURRENT, TOKENS, Scope
from ollamaweb.quotas.models import QuotaHold, QuotaInstance, UsageCounter
from ollamaweb.quotas.policy import ScopeLimits
from ollamaweb.quotas.stores import DatabaseStore, RedisStore
from tests.fake_ollama import Reply
from tests.processes import ROOT, UVICORN, free_port, manage
from tests.services import redis_url_or_skip

pytestmark = pytest.mark.stores

HI = [{"role": "user", "content": "hi"}]
RESERVED = 30  # reservation of one request: estimate("hi") 10 + max_tokens 20
USED = 25  # what the fake reports it used: 5 + 20
LEASE = 5  # seconds, for the crash test (the default is 15): longer than a restart, so the periodic reaper acts
IN_FLIGHT = 3


def wipe_redis(url):
    import redis

    client = redis.Redis.from_url(url)
    for key in client.scan_iter("ollamaweb:quota:*"):
        client.delete(key)
    return client


@pytest.fixture
def database_url(tmp_path):
    """A fresh database for the gateway processes: SQLite in tmp_path, or a new PostgreSQL database."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        yield f"sqlite:///{tmp_path / 'leases.sqlite3'}"
        return
    import psycopg

    name = f"ollamaweb_leases_{os.getpid()}"
    admin = url.replace("postgres://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {name}")
    yield url.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def query(database_url, sql):
    if database_url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as connection:
            return connection.execute(sql).fetchall()
    import psycopg

    with psycopg.connect(database_url.replace("postgres://", "postgresql://")) as connection:
        return connection.execute(sql).fetchall()


def start_gateway(env, port):
    process = subprocess.Popen(
        [*UVICORN, "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1)
            return process
        except httpx.TransportError:
            assert process.poll() is None and time.monotonic() < deadline, "the gateway did not start"
            time.sleep(0.1)


def chat(url, secret, timeout=60):
    body = {"model": "llama3", "messages": HI, "max_tokens": 20}
    return httpx.post(url, json=body, headers={"Authorization": f"Bearer {secret}"}, timeout=timeout)


@pytest.mark.parametrize("store", ["database", "redis"])
def test_a_killed_gateway_locks_nobody_out_and_gives_back_its_reservations(store, database_url, fake_ollama):
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": "",
        "OLLAMA_HOST": fake_ollama.url,
        "DJANGO_SECRET_KEY": "leases-test",
        "OLLAMAWEB_QUOTA_LEASE_SECONDS": str(LEASE),
        "OLLAMAWEB_KEY_CACHE_TTL": "0.2",
        "OLLAMAWEB_CONFIG_CACHE_TTL": "0.2",
    }
    redis_client = None
    if store == "redis":
        env["REDIS_URL"] = redis_url_or_skip()
        redis_client = wipe_redis(env["REDIS_URL"])
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    secret = manage(env, "createapikey", "gina")
    manage(
        env,
        "setquota",
        "gina",
        f"--tokens-per-day={2 * USED + IN_FLIGHT * RESERVED + 5}",
        f"--max-concurrent={IN_FLIGHT}",
    )
    other = manage(env, "createapikey", "hugo")  # unlimited: steady traffic while the process dies
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    fake_ollama.reply = Reply(content="x", prompt_eval_count=5, eval_count=20)
    gateway = start_gateway(env, port)
    try:
        assert [chat(url, secret).status_code for _ in range(2)] == [200, 200]  # 2 × 25 tokens used
        gina = _user_id(database_url, "gina")
        deadline = time.monotonic() + 10  # settled (with their log rows), so the next 3 reserve 30 each
        while query(database_url, f"SELECT count(*) FROM usage_requestlog WHERE user_id = {gina}")[0][0] < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)

        fake_ollama.reply = Reply(content="x", prompt_eval_count=5, eval_count=20, first_token_delay=60)
        outcomes = []
        threads = [threading.Thread(target=lambda: outcomes.append(_try(url, secret))) for _ in range(IN_FLIGHT)]
        for thread in threads:
            thread.start()
        fake_ollama.wait_for(lambda: fake_ollama.active == IN_FLIGHT, timeout=10)
        fake_ollama.reply = Reply(content="x", prompt_eval_count=5, eval_count=20)
        assert chat(url, secret).status_code == 429  # 3 in flight, 5 tokens left

        background = Traffic(url, other)  # finished requests of another user, up to the kill
        background.start()
        time.sleep(1.0)
        gateway.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        gateway.wait(timeout=10)
        background.stop()
        for thread in threads:
            thread.join(timeout=10)
        assert len(outcomes) == IN_FLIGHT and all(outcome == "no response" for outcome in outcomes)

        # What the dead process left: every slot taken, 3 × 30 tokens reserved.
        if store == "database":
            counters = dict(query(database_url, "SELECT key, used + reserved FROM quotas_usagecounter"))
        else:
            counters = _redis_counters(redis_client)
        assert counters[f"c:u{_user_id(database_url, 'gina')}"] == IN_FLIGHT
        token_counter = next(key for key in counters if key.startswith(f"t:u{_user_id(database_url, 'gina')}:"))
        assert counters[token_counter] == 2 * USED + IN_FLIGHT * RESERVED

        gateway = start_gateway(env, port)
        statuses = []
        while True:  # locked out (429) only until the lease of the dead process runs out
            status = chat(url, secret).status_code
            statuses.append(status)
            if status == 200:
                break
            assert status == 429
            assert time.monotonic() - killed_at < LEASE + LEASE / 3 + 5, f"still locked out: {statuses}"
            time.sleep(0.2)
        back_after = time.monotonic() - killed_at
        # The reservations came back: 2 + 1 requests used 75 of 145 tokens; 2 more fit (they would not
        # with the dead process's 90 tokens still reserved).
        assert [chat(url, secret).status_code for _ in range(2)] == [200, 200]
        gateway.send_signal(signal.SIGTERM)
        assert gateway.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        if gateway.poll() is None:
            gateway.kill()
            gateway.wait()
        counters_left = _redis_counters(redis_client) if redis_client is not None else {}
        if redis_client is not None:
            wipe_redis(env["REDIS_URL"])

    fake_ollama.wait_for(lambda: fake_ollama.active == 0, timeout=10)  # the killed requests ended there too

    if store == "database":
        counters = {key: (used, reserved) for key, used, reserved in query(database_url, _COUNTERS)}
        assert counters[token_counter] == (5 * USED, 0)
        assert counters[f"c:u{_user_id(database_url, 'gina')}"] == (0, 0)
        assert query(database_url, "SELECT count(*) FROM quotas_quotahold") == [(0,)]
    else:  # read before the keys were wiped: used + reserved, slots taken, holds left
        assert counters_left[token_counter] == 5 * USED and counters_left["reserved " + token_counter] == 0
        assert counters_left.get(f"c:u{_user_id(database_url, 'gina')}", 0) == 0
        assert counters_left["holds"] == 0

    # The request log: every request that was answered has its row, except the ones whose
    # record was still in the writer's buffer at the kill; the requests in flight have none.
    hugo = _user_id(database_url, "hugo")
    written = query(database_url, f"SELECT count(*) FROM usage_requestlog WHERE user_id = {hugo}")[0][0]
    lost = background.answered - written
    gina = _user_id(database_url, "gina")
    gina_rows = query(database_url, f"SELECT status FROM usage_requestlog WHERE user_id = {gina}")
    assert sorted(status for (status,) in gina_rows) == sorted([200, 200, 429, *statuses, 200, 200])
    print(
        f"\n[{store}] SIGKILL: {IN_FLIGHT} slow requests in flight (no row, as expected); of {background.answered} "
        f"answered requests of the steady traffic, {written} rows written, {lost} lost; "
        f"{background.unanswered} unanswered; locked out for {back_after:.1f}s "
        f"after the kill ({len(statuses) - 1} refusals), lease {LEASE}s"
    )
    # The journal keeps every answered request's record (written before its answer is sent), so no
    # answered request loses its row; a request killed while its answer was on the way may have one.
    assert -background.unanswered <= lost <= 0


_COUNTERS = "SELECT key, used, reserved FROM quotas_usagecounter"


def _try(url, secret) -> str:
    try:
        return str(chat(url, secret, timeout=30).status_code)
    except httpx.TransportError:
        return "no response"


def _user_id(database_url, username) -> int:
    return query(database_url, f"SELECT id FROM auth_user WHERE username = '{username}'")[0][0]


def _redis_counters(client) -> dict:
    values = {}
    for key in client.scan_iter("ollamaweb:quota:*"):
        name = key.decode().removeprefix("ollamaweb:quota:")
        if name.startswith("t:"):
            values["reserved " + name] = int(client.hget(key, "reserved") or 0)
            values[name] = int(client.hget(key, "used") or 0) + values["reserved " + name]
        elif name.startswith("c:"):
            values[name] = client.zcard(key)
    values["holds"] = sum(client.hlen(key) for key in client.scan_iter("ollamaweb:quota:holds:*"))
    return values


class Traffic:
    """Quick requests one after the other in a thread; counts what was answered and when."""

    def __init__(self, url, secret):
        self.url, self.secret = url, secret
        self.answers: list[float] = []
        self.unanswered = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self):
        with httpx.Client(timeout=10) as http:
            while not self._stop.is_set():
                try:
                    response = http.post(
                        self.url,
                        json={"model": "llama3", "messages": HI},
                        headers={"Authorization": f"Bearer {self.secret}"},
                    )
                    assert response.status_code == 200
                    self.answers.append(time.monotonic())
                except httpx.TransportError:
                    self.unanswered += 1
                    return

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=15)

    @property
    def answered(self) -> int:
        return len(self.answers)


# -- exactly once: the reaper and the request never both give a hold back ------------------------


def checks_for(user_id, tokens):
    limits = ScopeLimits(Scope("u", user_id), tokens_per_day=1000, max_concurrent=2)
    return plan_checks([limits], timezone.localtime(), tokens, 0, 86400)


@pytest.fixture(params=["database", "redis"])
def quota_store(request, transactional_db):
    if request.param == "database":
        yield DatabaseStore()
        return
    url = redis_url_or_skip()
    wipe_redis(url)
    settings.REDIS_URL = url
    yield RedisStore(url)
    settings.REDIS_URL = ""
    wipe_redis(url)


def test_a_dead_instances_holds_are_given_back_once(quota_store):
    """A process dies holding a slot and 30 tokens; the reaper gives them back; a spooled record of
    that process settled later adds what was used without releasing its reservation again."""
    store = quota_store

    async def scenario():
        checks = checks_for(7, 30)
        tokens = next(c for c in checks if c.kind == TOKENS)
        slot = next(c for c in checks if c.kind == CONCURRENT)
        dead_member = "elsewhere:1:dead/0123456789abcdef"  # a request of another process
        assert (await store.reserve(checks, dead_member)).admitted
        alive_member = leases.new_member()
        assert leases.instance_of(alive_member) != "elsewhere:1:dead"
        assert (await store.reserve(checks, alive_member)).admitted
        assert await counts(store, tokens.counter, slot.counter) == (60, 2)

        keeper = leases.LeaseKeeper()
        assert await keeper.beat_and_reap() == 0  # the dead process beat recently (its reservation)
        if store.name == "database":  # …or, in the database, is not known at all: a round as suspect
            assert await keeper.beat_and_reap() == 2
        else:
            assert await keeper.beat_and_reap(everyone_but_me=True) == 2
        assert await counts(store, tokens.counter, slot.counter) == (30, 1)
        assert await keeper.beat_and_reap(everyone_but_me=True) == 0  # nothing twice

        # The dead process's record, spooled before it died, is settled by this one: 12 used.
        await settle(store, [(dead_member, {tokens.counter: (30, 12)})])
        assert await counts(store, tokens.counter, slot.counter) == (42, 1)
        # The live request ends: its slot and its reservation go back once, though asked twice.
        await store.release(checks, alive_member)
        await store.release(checks, alive_member)
        await settle(store, [(alive_member, {tokens.counter: (30, 8)})])
        assert await counts(store, tokens.counter, slot.counter) == (20, 0)
        await keeper.stop()  # a graceful stop gives back what is left: nothing
        assert await counts(store, tokens.counter, slot.counter) == (20, 0)

    asyncio.run(scenario())


async def settle(store, settlements):
    if store.name == "database":
        from django.db import transaction

        from ollamaweb.core.db import run_in_thread

        def in_transaction():
            with transaction.atomic():
                store.settle_in_transaction(settlements)

        await run_in_thread(in_transaction)
    else:
        await store.settle(settlements)


async def counts(store, token_counter, slot_counter) -> tuple[int, int]:
    """(used + reserved tokens, slots taken)."""
    if store.name == "database":
        from ollamaweb.core.db import run_in_thread

        def read():
            rows = dict(UsageCounter.objects.values_list("key", "used"))
            reserved = UsageCounter.objects.get(key=token_counter).reserved
            return rows[token_counter] + reserved, rows[slot_counter]

        return await run_in_thread(read)
    client = store._client()
    key = store.prefix + token_counter
    tokens = int(await client.hget(key, "used") or 0) + int(await client.hget(key, "reserved") or 0)
    return tokens, await client.zcard(store.prefix + slot_counter)


def test_holds_are_given_back_once_the_heartbeat_is_older_than_the_lease(quota_store, settings):
    """The periodic reaper: a process silent for longer than the lease loses its holds; one that
    beat recently keeps them."""
    store = quota_store
    settings.QUOTA_LEASE_SECONDS = 15

    async def scenario():
        checks = checks_for(9, 30)
        tokens = next(c for c in checks if c.kind == TOKENS)
        silent, recent = "host-a:1:silent/00000000000000aa", "host-b:2:recent/00000000000000bb"
        for member in (silent, recent):
            assert (await store.reserve(checks, member)).admitted
        await heartbeat(store, "host-a:1:silent", seconds_ago=16)
        await heartbeat(store, "host-b:2:recent", seconds_ago=10)
        assert await counts(store, tokens.counter, "c:u9") == (60, 2)
        keeper = leases.LeaseKeeper()
        assert await keeper.beat_and_reap() == 2
        assert await counts(store, tokens.counter, "c:u9") == (30, 1)
        assert await keeper.beat_and_reap() == 0
        await heartbeat(store, "host-b:2:recent", seconds_ago=15.5)
        assert await keeper.beat_and_reap() == 2
        assert await counts(store, tokens.counter, "c:u9") == (0, 0)

    asyncio.run(scenario())


async def heartbeat(store, instance, seconds_ago):
    if store.name == "database":
        from datetime import timedelta

        from ollamaweb.core.db import run_in_thread

        await run_in_thread(
            lambda: QuotaInstance.objects.update_or_create(
                instance=instance, defaults={"heartbeat_at": timezone.now() - timedelta(seconds=seconds_ago)}
            )
        )
    else:
        client = store._client()
        now = float((await client.time())[0])
        await client.zadd(store.prefix + leases.REDIS_INSTANCES, {instance: now - seconds_ago})


def test_a_graceful_stop_gives_back_what_the_process_still_holds(transactional_db):
    async def scenario():
        store = DatabaseStore()
        checks = checks_for(8, 40)
        member = leases.new_member()
        keeper = leases.LeaseKeeper()
        await keeper.beat_and_reap()
        assert (await store.reserve(checks, member)).admitted
        tokens = next(c for c in checks if c.kind == TOKENS)
        assert await counts(store, tokens.counter, "c:u8") == (40, 1)
        await keeper.stop()

    asyncio.run(scenario())
    assert UsageCounter.objects.get(key__startswith="t:u8").reserved == 0
    assert UsageCounter.objects.get(key="c:u8").used == 0
    assert not QuotaHold.objects.exists()
    assert not QuotaInstance.objects.filter(instance=leases.instance_id()).exists()
