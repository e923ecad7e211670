"""Refresh ahead: a table in use is re-read in the background before it expires; one unused for a while is not."""

import asyncio
import time

import pytest

from ollamaweb.core import refreshed
from ollamaweb.core.refreshed import RefreshedTable

pytestmark = pytest.mark.django_db  # the loads run through core.db.run_in_thread (connection checks)


def _table(loads: list, ttl: float, seconds_per_load: float = 0.005) -> RefreshedTable:
    def load():
        loads.append(time.monotonic())
        time.sleep(seconds_per_load)
        return len(loads)

    return RefreshedTable(load, lambda: ttl, 0)


async def _requests_that_waited(table: RefreshedTable, loads: list, requests: int, apart: float) -> list[int]:
    """Which requests waited for a read (a request that finds the table fresh does not yield, so
    nothing is read during it)."""
    waited = []
    for number in range(requests):
        before = len(loads)
        await table.get()
        if len(loads) > before:
            waited.append(number)
        await asyncio.sleep(apart)
    return waited


@pytest.fixture
def read_ahead_at_half_the_ttl(monkeypatch):
    """Read ahead at half the TTL, not 0.8: a busy machine then has half a TTL to run the read."""
    monkeypatch.setattr(refreshed, "REFRESH_AHEAD", 0.5)


@pytest.mark.parametrize("ttls_apart", [0.5, 1.0, 3.0])
@pytest.mark.usefixtures("read_ahead_at_half_the_ttl")
def test_requests_spaced_about_or_beyond_the_ttl_do_not_wait_for_the_database(ttls_apart):
    # One TTL apart is the case that used to fail: every few requests, the read ahead found no
    # request since the last read, let the table expire, and the next request waited for a read.
    loads, ttl = [], 0.2
    table = _table(loads, ttl)
    waited = asyncio.run(_requests_that_waited(table, loads, 12 if ttls_apart < 3 else 6, ttl * ttls_apart))
    assert waited == [0]  # the first request reads the table; the others find it already fresh
    assert all(b - a >= ttl * 0.4 for a, b in zip(loads, loads[1:]))  # read about once per half TTL, not more


def test_a_table_unused_for_a_while_is_left_alone(monkeypatch):
    monkeypatch.setattr(refreshed, "KEPT_FRESH_AFTER_USE", 0.3)
    loads, ttl = [], 0.1
    table = _table(loads, ttl)

    async def scenario():
        await _requests_that_waited(table, loads, 3, 0.05)
        await asyncio.sleep(0.3 + 2 * ttl)  # kept fresh for 0.3 s after the last use, then left to expire
        idle_from = len(loads)
        await asyncio.sleep(5 * ttl)
        return idle_from

    idle_from = asyncio.run(scenario())
    assert len(loads) > 3  # it was read ahead after its last use...
    assert len(loads) == idle_from  # ...until it had been unused for KEPT_FRESH_AFTER_USE: then nothing


def test_invalidations_leave_one_read_ahead_scheduled():
    loads, ttl = [], 0.1
    table = _table(loads, ttl, seconds_per_load=0.03)

    async def scenario():
        for _ in range(5):  # each invalidation makes the next request read again
            await table.get()
            table.invalidate()
        await table.get()
        first = len(loads)
        await asyncio.sleep(6 * ttl)  # in use (just now): read ahead about once per 0.8 TTL
        return first

    first = asyncio.run(scenario())
    assert len(loads) - first <= 9, len(loads) - first  # not once per invalidation's read (~45)


def test_a_copy_is_never_served_older_than_the_ttl():
    values = iter(range(100))
    table = RefreshedTable(lambda: next(values), lambda: 0.1, -1)

    async def scenario():
        first = await table.get()
        await asyncio.sleep(0.5)  # unused: no refresh ahead, the copy expires
        return first, await table.get()

    first, later = asyncio.run(scenario())
    assert later > first


def test_an_invalidation_while_a_read_is_in_flight_makes_the_next_request_read_again():
    values = iter(range(100))

    def slow_load():
        time.sleep(0.1)
        return next(values)

    table = RefreshedTable(slow_load, lambda: 60, -1)

    async def scenario():
        assert await table.get() == 0
        table.invalidate()
        in_flight = asyncio.ensure_future(table.get())  # starts read 1
        await asyncio.sleep(0.02)
        table.invalidate()  # a change saved while read 1 runs: read 1 may predate it
        after = await table.get()  # must not be served read 1 as fresh
        await in_flight
        return after, await table.get()

    after, later = asyncio.run(scenario())
    assert after == 2 and later == 2
