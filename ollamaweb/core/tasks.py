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
