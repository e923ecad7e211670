"""core/loop_sqlite.py: the writes of one pass of the event loop share one transaction."""

import asyncio
import sqlite3
import time

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


@pytest.fixture
def other_process():
    """Another connection to the database file, as another process has: it can hold the write lock."""
    other = sqlite3.connect(loop_sqlite._database_name(), isolation_level=None)
    yield other
    if other.in_transaction:
        other.execute("ROLLBACK")
    other.close()


def _commits() -> list:
    commits = []
    loop_sqlite._connection().set_trace_callback(
        lambda statement: commits.append(statement) if statement == "COMMIT" else None
    )
    return commits


def test_writes_wait_out_another_process_s_lock_on_the_loop_and_go_together(transactions, other_process):
    batch = loop_sqlite.PassBatch(_insert)
    other_process.execute("BEGIN IMMEDIATE")  # another process writes
    commits = _commits()

    async def scenario():
        with pytest.raises(loop_sqlite.Busy) as busy:
            await batch.write(1)
        assert busy.value.locked
        asyncio.get_running_loop().call_later(0.03, other_process.execute, "COMMIT")
        started = time.monotonic()
        results = await asyncio.gather(batch.write_when_free(1), batch.write_when_free(-2), batch.write_when_free(3),
                                       return_exceptions=True)  # fmt: skip
        return results, time.monotonic() - started

    (first, refused, third), waited = asyncio.run(scenario())
    assert (first, third) == (10, 30) and isinstance(refused, Refused)
    assert 0.03 <= waited < 0.5
    assert _values() == [1, 3] and commits == ["COMMIT"]  # the three in one transaction, once the lock was free


def test_a_lock_held_too_long_or_a_refused_transaction_is_busy(transactions, other_process):
    batch = loop_sqlite.PassBatch(_insert)
    other_process.execute("BEGIN IMMEDIATE")

    async def held_too_long():
        started = time.monotonic()
        with pytest.raises(loop_sqlite.Busy) as busy:
            await batch.write_when_free(1, timeout=0.05)
        return busy.value.locked, time.monotonic() - started

    locked, waited = asyncio.run(held_too_long())
    assert locked and 0.05 <= waited < 0.5
    other_process.execute("COMMIT")

    def no_table(cursor, value):
        cursor.execute("INSERT INTO no_such_table (v) VALUES (?)", (value,))

    async def refused():
        with pytest.raises(loop_sqlite.Busy) as busy:
            await loop_sqlite.PassBatch(no_table).write_when_free(1)
        return busy.value.locked

    assert asyncio.run(refused()) is False  # SQLite refused it: not worth waiting for (the regular path says why)
    assert _values() == []


def test_a_caller_cancelled_while_waiting_for_the_lock_learns_what_was_written(transactions, other_process):
    batch = loop_sqlite.PassBatch(_insert)
    other_process.execute("BEGIN IMMEDIATE")

    async def scenario():
        waiting = asyncio.ensure_future(batch.write_when_free(7))
        await asyncio.sleep(0.02)
        waiting.cancel()  # the client left; the write stays asked for (a reservation must be given back)
        asyncio.get_running_loop().call_later(0.02, other_process.execute, "COMMIT")
        with pytest.raises(CancelledAfterward) as cancelled:
            await waiting
        return cancelled.value.result

    assert asyncio.run(scenario()) == 70
    assert _values() == [7]
