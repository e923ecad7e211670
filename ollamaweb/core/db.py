"""Database work from async code on the /v1 path."""

import asyncio
import atexit
import os
import queue
import threading
import time
from functools import cache

from django.db import DEFAULT_DB_ALIAS, OperationalError, connection, connections

FIRST_LOCK_PAUSE, LONGEST_LOCK_PAUSE = 0.0001, 0.002  # seconds


def _as_a_request(function, args):
    """Django's close_old_connections() before and after, for the one database the gateway uses
    (close_old_connections looks up every alias in asgiref's thread-critical locals, twice a call)."""
    database = connections[DEFAULT_DB_ALIAS]
    database.close_if_unusable_or_obsolete()
    try:
        return function(*args)
    finally:
        database.close_if_unusable_or_obsolete()


def _settle(future: asyncio.Future, result, error: BaseException | None):
    if not future.done():  # the caller may have been cancelled meanwhile
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)


class DatabaseThreads:
    """Threads that run database calls for the event loop: a call is queued as it is, run by an
    idle thread (a new one while fewer than `most` exist), and its result handed back with one
    call_soon_threadsafe.

    A ThreadPoolExecutor does the same through a work item, a concurrent Future chained to the
    loop's and a wake-up per submission: about 3× the CPU of this per call, which a request pays
    two or three times (bench/README.md). As with run_in_executor, a call whose caller was
    cancelled before it started is not run.
    """

    def __init__(self, most: int, name: str):
        self._calls = queue.SimpleQueue()
        self._most, self._name = most, name
        self._threads: list[threading.Thread] = []
        self._idle = 0  # threads waiting for a call that no queued call has claimed yet
        self._lock = threading.Lock()
        self._unfinished: dict = {}  # per event loop: the futures of its calls not answered yet
        atexit.register(self._stop)

    def run(self, function, args) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        unfinished = self._unfinished.get(loop)
        if unfinished is None:
            unfinished = self._unfinished[loop] = set()
            self._unfinished = {other: calls for other, calls in self._unfinished.items() if not other.is_closed()}
        unfinished.add(future)
        future.add_done_callback(unfinished.discard)
        self._calls.put((loop, future, function, args))
        with self._lock:
            if self._idle:
                self._idle -= 1
            elif len(self._threads) < self._most:
                thread = threading.Thread(target=self._work, name=f"{self._name}_{len(self._threads)}", daemon=True)
                self._threads.append(thread)
                thread.start()
        return future

    def _work(self):
        calls = self._calls
        while (call := calls.get()) is not None:
            loop, future, function, args = call
            if not future.cancelled():
                try:
                    result, error = _as_a_request(function, args), None
                except BaseException as exc:
                    result, error = None, exc
                try:
                    loop.call_soon_threadsafe(_settle, future, result, error)
                except RuntimeError:  # the loop was closed meanwhile: nobody waits any more
                    pass
                del call, future, result, error
            with self._lock:
                self._idle += 1

    async def finish_calls(self) -> bool:
        """Wait until this loop's calls made so far have been answered; False if there were none."""
        unfinished = self._unfinished.get(asyncio.get_running_loop())
        if not unfinished:
            return False
        await asyncio.wait(list(unfinished))
        return True

    def _stop(self):
        """At exit: let the calls under way (a log batch being written) finish."""
        for _ in self._threads:
            self._calls.put(None)
        for thread in self._threads:
            thread.join(timeout=10)


@cache
def one_writer_thread() -> bool:
    """Whether database work goes through one thread (SQLite): callers may then group their writes.

    SQLite allows one writer at a time, and a writer that finds the database locked sleeps in
    coarse steps: so in each process, all SQLite work goes through one thread."""
    return connection.vendor == "sqlite"


@cache
def _threads() -> DatabaseThreads:
    """Other databases use as many threads as asyncio's default executor would."""
    if one_writer_thread():
        return DatabaseThreads(1, "ollamaweb-sqlite")
    return DatabaseThreads(min(32, (os.cpu_count() or 1) + 4), "ollamaweb-db")


def retry_while_locked(function, *args):
    """Run `function` (one transaction: all or nothing), waiting for another process's SQLite write
    lock in short steps.

    SQLite's own busy handler sleeps 1, 2, 5, 10, ... 100 ms between tries. Gateway processes
    sharing one SQLite file take turns for the write lock many times a second, so a process's one
    database thread slept most of the time: two processes served no more than one
    (bench/README.md). Here the busy timeout is 0 during the call and a refused transaction is
    tried again after 0.1, 0.2, 0.4, ... ms (at most 2 ms), up to the database's timeout. Other
    databases: the function as it is.
    """
    if not one_writer_thread() or connection.in_atomic_block:
        return function(*args)
    connection.ensure_connection()
    timeout = connection.settings_dict["OPTIONS"].get("timeout", 5)
    deadline, pause = time.monotonic() + timeout, FIRST_LOCK_PAUSE
    connection.connection.execute("PRAGMA busy_timeout = 0")
    try:
        while True:
            try:
                return function(*args)
            except OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause)
            pause = min(2 * pause, LONGEST_LOCK_PAUSE)
    finally:
        if connection.connection is not None:
            connection.connection.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")


async def database_calls_finished() -> bool:
    """Wait for this process's database calls under way (from this event loop) to be answered;
    False if there were none. With SQLite: what its one database thread was writing is then
    committed, and the write lock is free again unless another process holds it."""
    return await _threads().finish_calls()


async def run_in_thread(function, *args):
    """Run a function that uses the ORM in a worker thread, as Django runs a request.

    The lean /v1 handler (api_handler.py) sends no request signals, so nothing else would close a
    broken or expired connection: each call checks its thread's connection before and releases it
    after (to the pool, with PostgreSQL).

    Not asgiref's sync_to_async: that one also copies and restores the caller's context variables
    and sets up thread-sensitivity bookkeeping, which these functions do not need, for ~45 µs of
    CPU per call (bench/README.md).
    """
    return await _threads().run(function, args)
