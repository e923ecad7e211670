"""Objects made once per event loop (connection pools, clients, gates): a process serves on one
loop, but tests and management commands run others, and what belongs to one cannot serve another."""

import asyncio


def for_this_loop(made: dict, is_stale, make):
    """What `make()` made for the running event loop, kept in `made` and made again once
    `is_stale(it)` (what was made for loops since closed is dropped)."""
    loop = asyncio.get_running_loop()
    found = made.get(loop)
    if found is None or is_stale(found):
        for closed in [other for other in made if other.is_closed()]:
            del made[closed]
        found = made[loop] = make()
    return found
