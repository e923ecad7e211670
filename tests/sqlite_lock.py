"""Holding SQLite's write lock from another connection, as another gateway process does while it writes."""

import contextlib
import sqlite3
import threading

from django.db import connection


@contextlib.contextmanager
def write_lock_held():
    """Yields once another connection holds the write lock; the caller sets the yielded event to
    have it released (it is released at exit in any case)."""
    locked, release = threading.Event(), threading.Event()

    def hold():
        other = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        locked.set()
        release.wait(10)
        other.execute("COMMIT")
        other.close()

    holder = threading.Thread(target=hold)
    holder.start()
    locked.wait(10)
    try:
        yield release
    finally:
        release.set()
        holder.join()
