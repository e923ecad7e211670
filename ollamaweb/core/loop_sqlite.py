"""Short SQLite write transactions run on the calling thread (the event loop's), when they can
run at once: quota reservations and releases, stored responses.

A quota reservation is a few statements that SQLite runs in ~0.1 ms, but as a call to the
database thread it cost ~0.7 ms of latency at c=1 (two thread wake-ups, a wait behind whatever
that thread was doing, Django's cursor wrappers), up to ~5 ms at p99 (bench/README.md). Here it
runs on the caller's thread, through that thread's own sqlite3 connection, and never waits: when
another connection holds the write lock (this process's database thread writing a log batch,
another process), `Busy` is raised at once and the caller goes through the database thread,
which waits for the lock. Any other failure is `Busy` too: that path then answers for real.

`PassBatch` groups the writes asked for in one pass of the event loop: the first is made at once,
the others together at the end of the pass, in one transaction.

SQLite only (`available()`). The connection never checkpoints the write-ahead log itself (the
database thread's connection does), so a commit here is an append to the log, not a copy of it
into the database file with its fsyncs.
"""

import asyncio
import sqlite3
import threading
import urllib.parse

from django.db import DEFAULT_DB_ALIAS, connections

from .db import one_writer_thread
from .tasks import to_the_end


class Busy(Exception):
    """The transaction could not run at once (or failed): nothing of it was written."""


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
        raise Busy(str(exc)) from exc
    try:
        result = function(cursor, *args)
        cursor.execute("COMMIT")
        return result
    except sqlite3.Error as exc:
        _roll_back(connection)
        raise Busy(str(exc)) from exc
    except BaseException:
        _roll_back(connection)
        raise


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
            outcomes = [(None, Busy(str(exc))) for _ in batch]
        for (_, future), (result, error) in zip(batch, outcomes):
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
