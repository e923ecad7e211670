"""Short SQLite write transactions run on the calling thread (the event loop's), when they can
run at once: quota reservations and releases, stored responses.

A quota reservation is a few statements that SQLite runs in ~0.1 ms, but as a call to the
database thread it cost ~0.7 ms of latency at c=1 (two thread wake-ups, a wait behind whatever
that thread was doing, Django's cursor wrappers), up to ~5 ms at p99 (bench/README.md). Here it
runs on the caller's thread, through that thread's own sqlite3 connection, and never blocks: when
another connection holds the write lock (this process's database thread writing a log batch,
another process), `Busy` is raised at once (`locked`), and the caller waits for the lock without
blocking (`PassBatch.write_when_free`) or goes through the database thread, which waits for it.
Any other failure is `Busy` too: the database thread's path then answers for real.

`PassBatch` groups the writes asked for in one pass of the event loop: the first is made at once,
the others together at the end of the pass, in one transaction. Writes waiting for another
process's lock are tried again together, in short steps, until it is free.

SQLite only (`available()`). The connection never checkpoints the write-ahead log itself (the
database thread's connection does), so a commit here is an append to the log, not a copy of it
into the database file with its fsyncs.
"""

import asyncio
import sqlite3
import threading
import urllib.parse

from django.db import DEFAULT_DB_ALIAS, connections

from .db import FIRST_LOCK_PAUSE, LONGEST_LOCK_PAUSE, database_calls_finished, one_writer_thread
from .tasks import to_the_end

# How long a write waits on the loop for another process's lock before the database thread is asked.
LOCK_WAIT_SECONDS = 1.0


class Busy(Exception):
    """The transaction could not run at once (or failed): nothing of it was written. `locked`:
    because another connection held the write lock."""

    def __init__(self, message: str, locked: bool = False):
        super().__init__(message)
        self.locked = locked


def _busy(error: sqlite3.Error) -> Busy:
    return Busy(
        str(error), locked=getattr(error, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    )


_local = threading.local()


def available() -> bool:
    """Whether the database is an SQLite file, named by its path (not in memory, not a URI)."""
    if not one_writer_thread():
        return False
    name = _database_name()
    return name != ":memory:" and not name.startswith("file:")


def _database_name() -> str:
    return str(connections.settings[DEFAULT_DB_ALIAS]["NAME"])


def _connection() -> sqlite3.Connection:
    """This thread's connection (a new one when the database's name changed: tests)."""
    name = _database_name()
    cached = getattr(_local, "connection", None)
    if cached is not None and cached[0] == name:
        return cached[1]
    if cached is not None:
        cached[1].close()
    # isolation_level=None: transactions are begun and ended here, explicitly. timeout=0: never
    # wait. mode=rw: never create the file (Django's connection and migrations do).
    uri = f"file:{urllib.parse.quote(name)}?mode=rw"
    connection = sqlite3.connect(uri, uri=True, timeout=0, isolation_level=None, check_same_thread=True)
    connection.execute("PRAGMA foreign_keys = ON")  # as Django's connections: a row of a deleted user is refused
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute("PRAGMA wal_autocheckpoint = 0")
    _local.connection = (name, connection)
    return connection


def write(function, *args):
    """`function(cursor, *args)` in one IMMEDIATE transaction, committed. `Busy` if the write lock
    is taken or SQLite fails; any other exception of `function` propagates. Either way the
    transaction was rolled back."""
    try:
        connection = _connection()
        cursor = connection.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        raise _busy(exc) from exc
    try:
        result = function(cursor, *args)
        cursor.execute("COMMIT")
        return result
    except sqlite3.Error as exc:
        _roll_back(connection)
        raise _busy(exc) from exc
    except BaseException:
        _roll_back(connection)
        raise


async def write_here(here, batch: "PassBatch"):
    """`await here(write)` on the loop's thread, `write` being one of `batch`'s: at once if SQLite's
    write lock is free; when this process's own database thread holds it (a log batch), after that
    thread's calls under way; when another process holds it, as soon as it is free
    (`PassBatch.write_when_free`). `Busy` when the database is not an SQLite file, SQLite refused
    the transaction or the lock stayed taken: nothing was written, and the caller's regular path
    (the database thread, which waits for the lock and says why it failed) answers."""
    if not available():
        raise Busy("not an SQLite file")
    try:
        return await here(batch.write)
    except Busy as busy:
        if not busy.locked:
            raise
    if await database_calls_finished():
        try:
            return await here(batch.write)
        except Busy as busy:
            if not busy.locked:
                raise
    return await here(batch.write_when_free)


class PassBatch:
    """One kind of write, as asked for during one pass of the event loop: the first at once, the
    others in one transaction at the end of the pass.

    A transaction writes each page it changed to SQLite's log: a quota reservation alone 4 pages,
    a release 3; eight in one transaction under one each. Under load several requests reach the
    same write in one pass of the loop (about 8 at c=64, bench/README.md, eighth pass); a lone
    request's write is still made at once, as before.
    """

    def __init__(self, function):
        self._function = function  # function(cursor, item): one write; its exception undoes only it
        self._waiting: dict = {}  # per event loop, from its pass's first write: [(item, future)]
        self._waiting_for_lock: dict = {}  # per event loop: [(item, future, deadline)]

    async def write(self, item):
        """`function(cursor, item)`, committed; `Busy` as write(). A write that waits for the end
        of the pass is made even if the caller is cancelled meanwhile: then CancelledAfterward
        (core/tasks.py) says what it returned."""
        loop = asyncio.get_running_loop()
        waiting = self._waiting.get(loop)
        if waiting is None:
            self._waiting[loop] = []
            loop.call_soon(self._write_waiting, loop)
            return write(self._function, item)
        future = loop.create_future()
        waiting.append((item, future))
        return await to_the_end(future)

    def _write_waiting(self, loop):
        batch = self._waiting.pop(loop)
        if not batch:
            return
        try:
            outcomes = write(_each, self._function, [item for item, _ in batch])
        except Busy as exc:
            outcomes = [(None, Busy(str(exc), exc.locked)) for _ in batch]
        _answer([future for _, future in batch], outcomes)

    async def write_when_free(self, item, timeout: float = LOCK_WAIT_SECONDS):
        """`function(cursor, item)`, committed once no other connection holds the write lock. The
        writes waiting for it are tried again together, after 0.1 ms, then twice as long each time
        up to 2 ms; `Busy` after `timeout` seconds, or at once if SQLite fails otherwise. As write(),
        made even if the caller is cancelled meanwhile (CancelledAfterward)."""
        loop = asyncio.get_running_loop()
        waiting = self._waiting_for_lock.get(loop)
        if waiting is None:
            waiting = self._waiting_for_lock[loop] = []
            loop.call_later(FIRST_LOCK_PAUSE, self._write_when_free, loop, FIRST_LOCK_PAUSE)
        future = loop.create_future()
        waiting.append((item, future, loop.time() + timeout))
        return await to_the_end(future)

    def _write_when_free(self, loop, pause: float):
        waiting = self._waiting_for_lock.pop(loop)
        try:
            outcomes = write(_each, self._function, [item for item, _, _ in waiting])
        except Busy as exc:
            now = loop.time()
            if exc.locked and any(deadline > now for _, _, deadline in waiting):
                late = [entry for entry in waiting if entry[2] <= now]
                _answer([future for _, future, _ in late], [(None, Busy(str(exc), True)) for _ in late])
                self._waiting_for_lock[loop] = [entry for entry in waiting if entry[2] > now]
                pause = min(2 * pause, LONGEST_LOCK_PAUSE)
                loop.call_later(pause, self._write_when_free, loop, pause)
                return
            outcomes = [(None, Busy(str(exc), exc.locked)) for _ in waiting]
        _answer([future for _, future, _ in waiting], outcomes)


def _answer(futures: list[asyncio.Future], outcomes: list[tuple]):
    for future, (result, error) in zip(futures, outcomes):
        if future.done():  # cancelled (to_the_end keeps the call it waits for, so only by the loop's end)
            continue
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)


def _each(cursor, function, items) -> list[tuple]:
    """(result, None) or (None, exception) of `function(cursor, item)` for each item, each in a
    savepoint that its exception rolls back (an SQLite error fails them all: `write()` says Busy)."""
    outcomes = []
    for item in items:
        cursor.execute("SAVEPOINT item")
        try:
            outcomes.append((function(cursor, item), None))
        except sqlite3.Error:
            raise
        except Exception as exc:
            cursor.execute("ROLLBACK TO item")
            outcomes.append((None, exc))
        cursor.execute("RELEASE item")
    return outcomes


def read(function, *args):
    """`function(cursor, *args)` outside a transaction (reads only); `Busy` if SQLite fails."""
    try:
        return function(_connection().cursor(), *args)
    except sqlite3.Error as exc:
        raise Busy(str(exc)) from exc


def _roll_back(connection: sqlite3.Connection):
    try:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
    except sqlite3.Error:  # a broken connection: the next call opens another
        _local.connection = None
        connection.close()
