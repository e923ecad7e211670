"""time_budget stops a slow read at its deadline and leaves the connection usable."""

import time

import pytest
from django.db import connection, transaction

from ollamaweb.core.budget import OverBudget, time_budget

pytestmark = [pytest.mark.stores, pytest.mark.django_db(transaction=True)]


def slow_query() -> str:
    if connection.vendor == "postgresql":
        return "SELECT pg_sleep(2)"
    # SQLite: a recursive CTE counting to 50 million takes seconds.
    return "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000000) SELECT count(*) FROM n"


def scalar(sql: str):
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


@pytest.mark.parametrize("in_transaction", [False, True])
def test_a_slow_read_is_stopped_and_the_connection_still_works(in_transaction):
    with transaction.atomic() if in_transaction else connection.cursor():
        started = time.monotonic()
        with pytest.raises(OverBudget):
            with time_budget(100):
                scalar(slow_query())
        assert time.monotonic() - started < 1.5  # stopped near the deadline, not run to its end
        assert scalar("SELECT 1 + 1") == 2  # same connection (and transaction), still usable
        if connection.vendor == "postgresql":  # the timeout did not outlive the block
            assert scalar("SELECT current_setting('statement_timeout')") == "0"


def test_a_fast_read_within_its_budget_answers():
    with time_budget(2000):
        assert scalar("SELECT 40 + 2") == 42
    with transaction.atomic():
        with time_budget(2000):
            assert scalar("SELECT 1") == 1
        if connection.vendor == "postgresql":
            assert scalar("SELECT current_setting('statement_timeout')") == "0"
