"""Reads that give up after a time budget, where no answer beats a slow one."""

import time
from contextlib import contextmanager

from django.db import OperationalError, connection, transaction


class OverBudget(Exception):
    """The block's queries took longer than its budget (and were stopped)."""


@contextmanager
def time_budget(ms: int):
    """Stop the block's queries once `ms` milliseconds have passed: OverBudget instead.

    PostgreSQL: a statement_timeout for the block (set in a savepoint and set back after it);
    SQLite: a progress handler that interrupts the running statement at the deadline. Other
    databases: no limit. Meant for reads only: a stopped block's writes are rolled back. A budget
    already spent (`ms` <= 0) stops at once.
    """
    if ms <= 0:
        raise OverBudget
    if connection.vendor == "postgresql":
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT current_setting('statement_timeout')")
                (before,) = cursor.fetchone()
                cursor.execute("SELECT set_config('statement_timeout', %s, true)", [f"{ms}ms"])
                yield
                cursor.execute("SELECT set_config('statement_timeout', %s, true)", [before])
        except OperationalError as exc:
            if getattr(exc.__cause__, "sqlstate", None) == "57014":  # query_canceled
                raise OverBudget from exc
            raise
    elif connection.vendor == "sqlite":
        connection.ensure_connection()
        raw = connection.connection
        deadline = time.monotonic() + ms / 1000
        raw.set_progress_handler(lambda: time.monotonic() > deadline, 1000)
        try:
            yield
        except OperationalError as exc:
            if "interrupted" in str(exc):
                raise OverBudget from exc
            raise
        finally:
            raw.set_progress_handler(None, 0)
    else:
        yield
