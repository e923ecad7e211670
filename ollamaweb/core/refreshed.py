"""A small table read from the database and kept per process for a few seconds (aliases, policies).

One refresh at a time: requests arriving while it runs wait for its result instead of each asking
the database. If the database does not answer, the last copy is kept and asked for again shortly,
so an outage does not stop requests that need nothing new.

Refresh ahead: while the table is in use, it is read again in the background shortly before it
expires (REFRESH_AHEAD of its TTL), so requests never wait for the database, even one per second or
one per ten seconds — the cases that used to pay a thread hop and a query per cache (bench/README.md,
"requests spaced a second apart"). "In use" means asked for within KEPT_FRESH_AFTER_USE seconds, not
since the last read: with requests about a TTL apart, a read-ahead window with no request in it came
round every few requests and let the table expire. A copy served is still never older than the TTL;
a table unused for KEPT_FRESH_AFTER_USE is left to expire, so an idle process asks the database nothing.
"""

import asyncio
import logging
import math
import time

from django.db import DatabaseError

from .db import run_in_thread

logger = logging.getLogger(__name__)
RETRY_AFTER_ERROR = 5.0
REFRESH_AHEAD = 0.8  # of the TTL: when a table in use is read again in the background
KEPT_FRESH_AFTER_USE = 30.0  # seconds after its last use that a table (or key) is still read ahead


class RefreshedTable:
    def __init__(self, load, ttl, empty):
        self._load = load  # a sync function that reads the table (run in a worker thread)
        self._ttl = ttl  # a function: seconds a copy is fresh (read at each refresh, so tests may change it)
        self._value = empty
        self._loaded = False
        self._fresh_until = 0.0
        self._refreshing: asyncio.Future | None = None
        self._read_ahead: asyncio.TimerHandle | None = None  # the one read ahead scheduled
        self._last_used = -math.inf  # when a request last asked for the table (monotonic)
        self._generation = 0  # bumped by invalidate(): a read that started before it is not fresh

    @property
    def last(self):
        """The copy as it is, without a refresh (for code that must not wait, such as usage hooks)."""
        return self._value

    async def get(self):
        self._last_used = now = time.monotonic()
        if now < self._fresh_until:
            return self._value
        return await asyncio.shield(self._start_refresh())

    def _start_refresh(self) -> asyncio.Future:
        if self._refreshing is None or self._refreshing.get_loop() is not asyncio.get_running_loop():
            self._refreshing = asyncio.ensure_future(self._refresh())
            self._refreshing.add_done_callback(self._refreshed)
        return self._refreshing

    def _refreshed(self, future):
        if self._refreshing is future:
            self._refreshing = None
        if not future.cancelled() and future.exception() is None:
            ttl = self._ttl()
            if ttl > 0:
                if self._read_ahead is not None:  # one schedule, however many reads completed
                    self._read_ahead.cancel()
                self._read_ahead = future.get_loop().call_later(ttl * REFRESH_AHEAD, self._refresh_ahead)

    def _refresh_ahead(self):
        if time.monotonic() - self._last_used <= KEPT_FRESH_AFTER_USE:
            self._start_refresh()

    async def _refresh(self):
        generation = self._generation
        try:
            value = await run_in_thread(self._load)
        except DatabaseError as exc:
            if not self._loaded:
                raise
            logger.warning("could not refresh %s (%s); keeping the last copy", self._load.__name__, exc)
            self._fresh_until = time.monotonic() + RETRY_AFTER_ERROR
            return self._value
        self._value, self._loaded = value, True
        if generation == self._generation:  # else a change was saved meanwhile: the next request reads again
            self._fresh_until = time.monotonic() + self._ttl()
        return value

    def invalidate(self):
        self._generation += 1
        self._last_used = -math.inf  # no read ahead until a request asks again
        self._fresh_until = 0.0
        self._refreshing = None  # a read in flight may predate the change: the next request starts another
