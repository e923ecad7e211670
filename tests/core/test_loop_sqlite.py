"""core/loop_sqlite.py: the writes of one pass of the event loop share one transaction."""

import asyncio

import pytest

from ollamaweb.core import loop_sqlite
from ollamaweb.core.tasks import CancelledAfterward

pytestmark = pytest.mark.django_db(transaction=True)


class Refused(Exception):
    pass


def _insert(cursor, value):
    if value < 0:
        cursor.execute("INSERT INTO pass_batch_test (v) VALUES (?)", (value,))  # written, then undone
        raise Refused(value)
    cursor.execute("INSERT INTO pass_batch_test (v) VALUES (?)", (value,))
    return value * 10


def _values() -> list:
    return sorted(row[0] for row in loop_sqlite._connection().execute("SELECT v FROM pass_batch_test"))


@pytest.fixture
def transactions():
    """The transactions begun on the loop thread's connection (a list that grows)."""
    if not loop_sqlite.available():
        pytest.skip("SQLite only")
    connection = loop_sqlite._connection()
    connection.execute("CREATE TABLE IF NOT EXISTS pass_batch_test (v INTEGER)")
    connection.execute("DELETE FROM pass_batch_test")
    begun = []
    connection.set_trace_callback(lambda statement: begun.append(statement) if statement.startswith("BEGIN") else None)
    yield begun
    connection.set_trace_callback(None)
    connection.execute("DROP TABLE pass_batch_test")


def test_the_first_write_of_a_pass_is_made_at_once_and_the_others_together_at_its_end(transactions):
    batch = loop_sqlite.PassBatch(_insert)

    async def scenario():
        first = asyncio.ensure_future(batch.write(1))
        others = [asyncio.ensure_future(batch.write(value)) for value in (2, -3, 4)]
        return await asyncio.gather(first, *others, return_exceptions=True)

    results = asyncio.run(scenario())

    assert results[:2] == [10, 20] and isinstance(results[2], Refused) and results[3] == 40
    assert _values() == [1, 2, 4]  # the refused write was undone, and only it
    assert len(transactions) == 2


def test_a_lone_write_is_its_own_transaction_and_errors_as_before(transactions):
    batch = loop_sqlite.PassBatch(_insert)

    async def scenario():
        assert await batch.write(5) == 50
        with pytest.raises(Refused):
            await batch.write(-1)
        assert await batch.write(6) == 60

    asyncio.run(scenario())
    assert _values() == [5, 6] and len(transactions) == 3


def test_a_caller_cancelled_while_its_write_waits_learns_what_was_written(transactions):
    batch = loop_sqlite.PassBatch(_insert)

    async def scenario():
        first = asyncio.ensure_future(batch.write(1))
        waiting = asyncio.ensure_future(batch.write(2))
        await asyncio.sleep(0)  # both asked in this pass; the second waits for its end
        waiting.cancel()
        await first
        with pytest.raises(CancelledAfterward) as cancelled:
            await waiting
        return cancelled.value.result

    assert asyncio.run(scenario()) == 20
    assert _values() == [1, 2]
