"""The key cache: keys in use are looked up again ahead of their expiry, those due together in one
lookup; an invalidation is never undone by a lookup in flight; a database outage keeps known keys."""

import asyncio
import time

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import OperationalError

from ollamaweb.keys import cache as key_cache_module
from ollamaweb.keys.cache import KeyCache
from ollamaweb.keys.models import ApiKey
from ollamaweb.keys.services import forget_keys, issue_key

pytestmark = pytest.mark.django_db  # lookups run through core.db.run_in_thread (connection checks)

TTL = 0.2


class FakeLookup:
    """Stands for the database: records each lookup's prefixes; can be made to fail or to wait."""

    def __init__(self):
        self.calls: list[list[str]] = []
        self.version = 0
        self.failing = False
        self.seconds = 0.002

    def __call__(self, prefixes):
        self.calls.append(list(prefixes))
        time.sleep(self.seconds)
        if self.failing:
            raise OperationalError("database is down")
        return {prefix: f"{prefix}@{self.version}" for prefix in prefixes}

    @property
    def looked_up(self) -> int:
        return sum(len(call) for call in self.calls)


READ_AHEAD = 0.5  # of the TTL, not 0.8: a busy machine then has half a TTL to run the lookup


@pytest.fixture
def lookup(monkeypatch, settings):
    settings.API_KEY_CACHE_TTL = TTL
    monkeypatch.setattr(key_cache_module, "REFRESH_AHEAD", READ_AHEAD)
    fake = FakeLookup()
    monkeypatch.setattr(key_cache_module, "_lookup", fake)
    return fake


async def _requests_that_waited(cache: KeyCache, lookup: FakeLookup, prefixes, requests: int, apart: float):
    """Which requests waited for a lookup (one that finds its key fresh does not yield)."""
    waited = []
    for number in range(requests):
        for prefix in prefixes:
            before = lookup.looked_up
            await cache.get(prefix)
            if lookup.looked_up > before:
                waited.append(number)
        await asyncio.sleep(apart)
    return waited


@pytest.mark.parametrize("ttls_apart", [1.0, 3.0])
def test_a_key_used_about_or_beyond_its_ttl_apart_is_never_waited_for(lookup, ttls_apart):
    cache = KeyCache()
    waited = asyncio.run(_requests_that_waited(cache, lookup, ["k1"], 12 if ttls_apart < 3 else 6, TTL * ttls_apart))
    assert waited == [0]


def test_keys_due_together_are_looked_up_in_one_query(lookup):
    cache = KeyCache()
    prefixes = [f"key{number}" for number in range(40)]
    lookup.seconds = 0  # the forty first lookups end well within 0.8 TTL

    async def scenario():
        for prefix in prefixes:  # forty keys in use, first looked up one by one
            await cache.get(prefix)
        first = len(lookup.calls)
        waited = await _requests_that_waited(cache, lookup, prefixes, 10, TTL / 2)
        return first, waited

    first, waited = asyncio.run(scenario())
    assert first == 40 and waited == []
    ahead = lookup.calls[40:]
    assert ahead and max(len(call) for call in ahead) >= 35  # the forty, read ahead together
    assert len(ahead) <= 2 * 10 * (TTL / 2) / (TTL * READ_AHEAD)  # a few lookups per TTL, not forty


def test_a_key_unused_for_a_while_is_left_alone(lookup, monkeypatch):
    monkeypatch.setattr(key_cache_module, "KEPT_FRESH_AFTER_USE", 0.3)
    cache = KeyCache()

    async def scenario():
        await cache.get("k1")
        await asyncio.sleep(0.3 + 2 * TTL)
        idle_from = len(lookup.calls)
        await asyncio.sleep(5 * TTL)
        return idle_from

    idle_from = asyncio.run(scenario())
    assert idle_from > 1  # looked up ahead after its last use...
    assert len(lookup.calls) == idle_from  # ...until unused for KEPT_FRESH_AFTER_USE


def test_an_invalidation_during_a_lookup_ahead_is_not_undone(lookup):
    cache = KeyCache()

    async def scenario():
        assert await cache.get("k1") == "k1@0"
        lookup.seconds = TTL  # the next lookup (ahead, at half the TTL) takes long
        await asyncio.sleep(TTL * 0.9)
        assert len(lookup.calls) == 2  # the lookup ahead is in flight
        lookup.version = 1
        cache.invalidate("k1")  # the key changed: the lookup in flight may have read it before
        lookup.seconds = 0.002
        await asyncio.sleep(TTL * 1.5)  # the lookup ahead ends
        return await cache.get("k1")

    assert asyncio.run(scenario()) == "k1@1"
    assert len(lookup.calls) == 3  # the request looked the key up again


def test_known_keys_outlive_a_database_outage(lookup):
    cache = KeyCache()

    async def scenario():
        await cache.get("k1")
        lookup.failing = True
        await asyncio.sleep(3 * TTL)  # lookups ahead fail meanwhile
        served = await cache.get("k1")
        unknown = None
        try:
            await cache.get("k2")
        except OperationalError as exc:
            unknown = exc
        return served, unknown

    served, unknown = asyncio.run(scenario())
    assert served == "k1@0" and len(lookup.calls) >= 2  # kept as it was, though looked up again
    assert unknown is not None  # a key never seen cannot be vouched for


def test_lookup_reads_many_keys_through_the_shared_layer(settings, monkeypatch):
    settings.REDIS_URL = "redis://shared-layer"  # the shared layer is Django's cache (here the in-memory one)
    cache.clear()
    alice = get_user_model().objects.create_user("alice")
    keys = [issue_key(alice, f"k{number}")[0] for number in range(3)]
    prefixes = [key.prefix for key in keys]
    monkeypatch.setattr(key_cache_module, "LOOKUP_CHUNK", 2)  # three keys and a stranger: two queries
    found = key_cache_module._lookup([*prefixes, "nosuchkey"])
    assert [found[prefix].key_id for prefix in prefixes] == [key.pk for key in keys]
    assert found["nosuchkey"] is None
    assert cache.get(key_cache_module.shared_key("nosuchkey")) == key_cache_module.NO_SUCH_KEY

    ApiKey.objects.filter(pk=keys[0].pk).update(revoked=True)  # behind the services' back
    assert key_cache_module._lookup(prefixes[:1])[prefixes[0]].usable  # the shared layer still has it
    forget_keys(prefixes[:1])  # what the services do on every change
    assert not key_cache_module._lookup(prefixes[:1])[prefixes[0]].usable
