"""Bridges between the event loop and the worker threads that run models."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TypeVar

T = TypeVar("T")

_END = object()


class CancelToken:
    """Set once when the client goes away; worker threads poll it between tokens."""

    def __init__(self) -> None:
        self.flag = threading.Event()
        self._event = asyncio.Event()

    def cancel(self) -> None:
        self.flag.set()
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self.flag.is_set()

    async def wait(self) -> None:
        await self._event.wait()


class ClientGone(Exception):
    """The client disconnected while its request was still queued."""


async def acquire_unless_cancelled(lock: asyncio.Lock, token: CancelToken) -> None:
    """Queue for `lock` (asyncio locks are FIFO); leave the queue if the client goes away."""
    acquiring = asyncio.ensure_future(lock.acquire())
    gone = asyncio.ensure_future(token.wait())
    await asyncio.wait({acquiring, gone}, return_when=asyncio.FIRST_COMPLETED)
    gone.cancel()
    if acquiring.done():
        if not token.cancelled:
            return
        lock.release()
    else:
        acquiring.cancel()  # asyncio.Lock hands the turn on to the next waiter
    raise ClientGone


async def iterate_in_thread(make: Callable[[], Iterator[T]], token: CancelToken) -> AsyncIterator[T]:
    """Run a blocking iterator in a worker thread and yield its items on the loop.

    When the consumer stops early the token is cancelled, and the generator does
    not finish before the thread has, so a model is never used by two threads.
    """
    loop = asyncio.get_running_loop()
    items: asyncio.Queue = asyncio.Queue()

    def pump() -> None:
        try:
            for item in make():
                loop.call_soon_threadsafe(items.put_nowait, (item, None))
        except BaseException as exc:  # re-raised on the loop
            loop.call_soon_threadsafe(items.put_nowait, (_END, exc))
        else:
            loop.call_soon_threadsafe(items.put_nowait, (_END, None))

    worker = loop.run_in_executor(None, pump)
    finished = False
    try:
        while not finished:
            item, error = await items.get()
            finished = item is _END
            if error is not None:
                raise error
            if not finished:
                yield item
    finally:
        if not finished:
            token.cancel()
        await worker
