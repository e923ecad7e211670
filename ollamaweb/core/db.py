"""Database work from async code on the /v1 path."""

from concurrent.futures import ThreadPoolExecutor
from functools import cache

from asgiref.sync import sync_to_async
from django.db import close_old_connections, connection


def _as_a_request(function, args):
    close_old_connections()
    try:
        return function(*args)
    finally:
        close_old_connections()


@cache
def _executor() -> ThreadPoolExecutor | None:
    """SQLite allows one writer at a time, and a writer that finds the database locked sleeps in
    coarse steps: so in each process, all SQLite work goes through one thread. Other databases use
    the default pool of threads."""
    if connection.vendor == "sqlite":
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="ollamaweb-sqlite")
    return None


async def run_in_thread(function, *args):
    """Run a function that uses the ORM in a worker thread, as Django runs a request.

    The lean /v1 handler (api_handler.py) sends no request signals, so nothing else would close a
    broken or expired connection: each call checks its thread's connection before and releases it
    after (to the pool, with PostgreSQL).
    """
    return await sync_to_async(_as_a_request, thread_sensitive=False, executor=_executor())(function, args)
