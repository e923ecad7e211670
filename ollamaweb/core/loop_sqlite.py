"""Short SQLite write transactions run on the calling thread (the event loop's), when they can
run at once: quota reservations and releases, stored responses.

A quota reservation is a few statements that SQLite runs in ~0.1 ms, but as a call to the
database thread it cost ~0.7 ms of latency at c=1 (two thread wake-ups, a wait behind whatever
that thread was doing, Django's cursor wrappers), up to ~5 ms at p99 (bench/README.md). Here it
runs on the caller's thread, through that thread's own sqlite3 connection, and never waits: when
another connection holds the write lock (this process's database thread writing a log batch,
another process), `Busy` is raised at once and the caller goes through the database thread,
which waits for the lock. Any other failure is `Busy` too: that path then answers for real.

SQLite only (`available()`). The connection never checkpoints the write-ahead log itself (the
database thread's connection does), so a commit here is an append to the log, not a copy of it
into the database file with its fsyncs.
"""

import sqlite3
import threading
import urllib.parse

from django.db import DEFAULT_DB_ALIAS, connections

from .db import one_writer_thread


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
