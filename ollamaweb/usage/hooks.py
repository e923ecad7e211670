"""Callbacks other apps register to observe requests, without usage importing them.

    from ollamaweb.usage import hooks
    hooks.on_request_finished(callback)      # callback(record): each finished UsageRecord
    hooks.on_batch_written(callback)         # callback(records): after a batch of rows is written
    hooks.on_rows_set_aside(callback)        # callback(count): rows the writer could not store

Callbacks run synchronously where the event happens (the request's `settle`, the log writer's
task), so they must be quick and never block; an exception in one is logged and swallowed, never
seen by the request. Registering the same callback twice has no effect.
"""

import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)

_finished: list[Callable] = []
_written: list[Callable] = []
_set_aside: list[Callable] = []


def _register(callbacks: list, callback: Callable) -> Callable:
    if callback not in callbacks:
        callbacks.append(callback)
    return callback


def on_request_finished(callback: Callable) -> Callable:
    return _register(_finished, callback)


def on_batch_written(callback: Callable) -> Callable:
    return _register(_written, callback)


def on_rows_set_aside(callback: Callable) -> Callable:
    return _register(_set_aside, callback)


def remove(callback: Callable):
    for callbacks in (_finished, _written, _set_aside):
        if callback in callbacks:
            callbacks.remove(callback)


def _run(callbacks: list, *args):
    for callback in callbacks:
        try:
            callback(*args)
        except Exception:
            logger.exception("request hook %r failed", callback)


def request_finished(record):
    if _finished:
        _run(_finished, record)


def batch_written(records):
    if _written:
        _run(_written, records)


def rows_set_aside(count: int):
    if _set_aside:
        _run(_set_aside, count)
