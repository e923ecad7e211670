"""Background tasks that outlive the request that starts them."""

import asyncio
import contextvars

_running: set[asyncio.Task] = set()


def spawn(coroutine, name: str | None = None) -> asyncio.Task:
    """Start a task in a fresh context and keep a reference until it ends.

    A fresh context matters: a task created inside a request inherits the request's
    ThreadSensitiveContext, and asgiref would give each such task its own executor thread after
    the request ended (one leaked thread per request).
    """
    task = asyncio.get_running_loop().create_task(coroutine, name=name, context=contextvars.Context())
    _running.add(task)
    task.add_done_callback(_running.discard)
    return task


class CancelledAfterward(asyncio.CancelledError):
    """The task was cancelled while a call it could not take back was under way (see `to_the_end`);
    `result` is what that call returned, for the caller to undo."""

    def __init__(self, result):
        super().__init__()
        self.result = result


async def to_the_end(awaitable):
    """`await awaitable`; if this task is cancelled meanwhile, `awaitable` still runs to its end
    (a write sent to a database or to Redis is made whether or not anyone waits for its answer),
    then CancelledAfterward(its result) is raised, or a plain CancelledError if it failed."""
    call = asyncio.ensure_future(awaitable)
    try:
        return await asyncio.shield(call)
    except asyncio.CancelledError:
        pass
    while not call.done():
        try:
            await asyncio.wait([call])
        except asyncio.CancelledError:  # cancelled again: still wait
            pass
    if call.cancelled() or call.exception() is not None:
        raise asyncio.CancelledError
    raise CancelledAfterward(call.result())
