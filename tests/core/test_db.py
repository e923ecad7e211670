"""Database calls from async code (ollamaweb/core/db.py)."""

import sqlite3
import threading
import time

import pytest
from django.db import OperationalError, connection, transaction

from ollamaweb.core.db import retry_while_locked
from ollamaweb.quotas.models import UsageCounter

pytestmark = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's write lock")
HELD = 0.33  # between two of SQLite's own tries (328 and 428 ms): its handler would see it 98 ms late


def hold_the_write_lock(seconds: float, taken: threading.Event):
    """Another process's writer, as far as SQLite can tell: its own connection to the file."""
    other = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    taken.set()
    time.sleep(seconds)
    other.execute("COMMIT")
    other.close()


def add_counter(key: str):
    with transaction.atomic():
        UsageCounter.objects.create(key=key, used=1)


def test_a_write_waits_for_another_writers_lock_in_short_steps(transactional_db):
    connection.ensure_connection()
    taken = threading.Event()
    holder = threading.Thread(target=hold_the_write_lock, args=(HELD, taken))
    holder.start()
    assert taken.wait(5)
    started = time.monotonic()
    retry_while_locked(add_counter, "t:waited")
    waited = time.monotonic() - started
    holder.join()

    assert UsageCounter.objects.filter(key="t:waited").count() == 1
    assert HELD - 0.05 < waited < HELD + 0.06
    with connection.cursor() as cursor:  # the connection's own busy timeout is back
        cursor.execute("PRAGMA busy_timeout")
        assert cursor.fetchone()[0] == int(connection.settings_dict["OPTIONS"]["timeout"] * 1000)


def test_other_errors_are_not_retried_and_a_lock_held_too_long_gives_up(transactional_db):
    calls = []

    def broken():
        calls.append(1)
        raise OperationalError("no such table: nowhere")

    with pytest.raises(OperationalError, match="no such table"):
        retry_while_locked(broken)
    assert calls == [1]

    connection.ensure_connection()
    options = connection.settings_dict["OPTIONS"]
    connection.settings_dict["OPTIONS"] = {**options, "timeout": 0.2}
    taken = threading.Event()
    holder = threading.Thread(target=hold_the_write_lock, args=(0.6, taken))
    holder.start()
    try:
        assert taken.wait(5)
        started = time.monotonic()
        with pytest.raises(OperationalError, match="locked"):
            retry_while_locked(add_counter, "t:never")
        assert time.monotonic() - started < 0.4
    finally:
        holder.join()
        connection.settings_dict["OPTIONS"] = options
