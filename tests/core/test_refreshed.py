"""Refresh ahead: a table in use is re-read in the background before it expires; an unused one is not."""

import asyncio
import time

from ollamaweb.core.refreshed import RefreshedTable


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
