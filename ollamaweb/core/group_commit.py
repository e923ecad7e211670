"""Group commit for database writes from async code."""

import asyncio

from .db import one_writer_thread, run_in_thread


class GroupCommit:
    """Calls that arrive while a batch runs in the database thread go together in the next.

    With SQLite (one writer thread), each batch is one thread hop and one transaction however many
    requests it serves, so a burst of writes costs a few hops instead of one each, one after the
    other; a lone call still goes at once. With PostgreSQL each call runs on its own, in parallel.
    `run_many` is synchronous: a list of items -> a list of results, in the same order.
    """

    def __init__(self, run_many):
        self._run_many = run_many
        self._pending: dict = {}  # per event loop: [(item, future)]
        self._running: set = set()

    async def submit(self, item):
        if not one_writer_thread():
            return (await run_in_thread(self._run_many, [item]))[0]
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending.setdefault(loop, []).append((item, future))
        if loop not in self._running:
            self._running.add(loop)
            loop.create_task(self._drain(loop))
        return await future

    async def _drain(self, loop):
        try:
            while batch := self._pending.pop(loop, None):
                try:
                    results = await run_in_thread(self._run_many, [item for item, _ in batch])
                except BaseException as exc:  # every call of the batch sees the failure
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    if isinstance(exc, asyncio.CancelledError):
                        raise
                    continue
                for (_, future), result in zip(batch, results):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._running.discard(loop)
            for _, future in self._pending.pop(loop, ()):  # only when cancelled: nothing is left behind
                if not future.done():
                    future.cancel()
