"""Refresh ahead: a table in use is re-read in the background before it expires; an unused one is not."""

import asyncio
import time

import pytest

from ollamaweb.core.refreshed import RefreshedTable

pytestmark = pytest.mark.django_db  # the loads run through core.db.run_in_thread (connection checks)


def test_requests_spaced_beyond_the_ttl_do_not_wait_for_the_database_and_idle_tables_are_left_alone():
    loads = []

    def slow_load():
        loads.append(time.monotonic())
        time.sleep(0.05)  # a slow database
        return len(loads)

    table = RefreshedTable(slow_load, lambda: 0.3, 0)

    async def scenario():
        waits = []
        for _ in range(6):
            started = time.monotonic()
            await table.get()
            waits.append(time.monotonic() - started)
            await asyncio.sleep(0.25)  # about the TTL apart, as a person sends requests
        loads_when_idle_began = len(loads)
        await asyncio.sleep(1.2)  # four TTLs without a request
        return waits, loads_when_idle_began

    waits, loads_when_idle_began = asyncio.run(scenario())
    assert waits[0] >= 0.05  # the first request reads the table
    assert max(waits[1:]) < 0.04, waits  # the others find it already fresh
    assert len(loads) <= loads_when_idle_began + 1  # idle: at most the refresh already due, then nothing
    assert all(b - a >= 0.2 for a, b in zip(loads, loads[1:]))  # never more often than ~the TTL


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
