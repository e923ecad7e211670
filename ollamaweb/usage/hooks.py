"""Listeners for finished requests, so other apps (the live feed, metrics) hear of them without
the usage app knowing who listens.

- `on_request_finished(callback)`: `callback(record)` when a request's record is closed and handed
  to the log writer; synchronous, on the request's path: it must be cheap and must not raise.
- `on_batch_written(callback)`: `await callback(records)` after a batch of records is in the
  database; best effort (failures are logged, never retried).
"""

import logging

logger = logging.getLogger(__name__)

_finished = []
_written = []


def on_request_finished(callback):
    _finished.append(callback)
    return callback


def on_batch_written(callback):
    _written.append(callback)
    return callback


def request_finished(record):
    for callback in _finished:
        try:
            callback(record)
        except Exception:
            logger.exception("request-finished listener %r failed", callback)


async def batch_written(records):
    for callback in _written:
        try:
            await callback(records)
        except Exception:
            logger.exception("batch-written listener %r failed for %d records", callback, len(records))
