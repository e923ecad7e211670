"""Objects made once per event loop: kept for their loop, made again when stale, dropped with their loop."""

import asyncio

from ollamaweb.core.loops import for_this_loop


def test_one_object_per_loop_made_again_when_stale_and_dropped_once_its_loop_closed():
    made, count = {}, iter(range(100))

    def make():
        return {"n": next(count), "stale": False}

    async def twice():
        first = for_this_loop(made, lambda it: it["stale"], make)
        assert for_this_loop(made, lambda it: it["stale"], make) is first
        first["stale"] = True
        return first, for_this_loop(made, lambda it: it["stale"], make)

    first, remade = asyncio.run(twice())
    assert (first["n"], remade["n"]) == (0, 1)
    other = asyncio.run(twice())
    assert other[0]["n"] == 2  # another loop, another object
    assert len(made) == 1  # the first loop's, closed, was dropped
