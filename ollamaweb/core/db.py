"""Database work from async code on the /v1 path."""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from functools import cache

from django.db import DEFAULT_DB_ALIAS, connection, connections


def _as_a_request(function, args):
    """Django's close_old_connections() before and after, for the one database the gateway uses
    (close_old_connections looks up every alias in asgiref's thread-critical locals, twice a call)."""
    database = connections[DEFAULT_DB_ALIAS]
    database.close_if_unusable_or_obsolete()
    try:
        return function(*args)
    finally:
        database.close_if_unusable_or_obsolete()


@cache
def _executor() -> ThreadPoolExecutor | None:
    """SQLite allows one writer at a time, and a writer that finds the database locked sleeps in
    coarse steps: so in each process, all SQLite work goes through one thread. Other databases use
    the default pool of threads."""
    if connection.vendor == "sqlite":
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="ollamaweb-sqlite")
    return None


def one_writer_thread() -> bool:
    """Whether database work goes through one thread (SQLite): callers may then group their writes."""
    return _executor() is not None


async def run_in_thread(function, *args):
    """Run a function that uses the ORM in a worker thread, as Django runs a request.

    The lean /v1 handler (api_handler.py) sends no request signals, so nothing else would close a
    broken or expired connection: each call checks its thread's connection before and releases it
    after (to the pool, with PostgreSQL).

    A plain run_in_executor, not asgiref's sync_to_async: that one also copies and restores the
    caller's context variables and sets up thread-sensitivity bookkeeping, which these functions do
    not need, for ~45 µs of CPU per call (bench/README.md).
    """
    return await asyncio.get_running_loop().run_in_executor(_executor(), _as_a_request, function, args)
