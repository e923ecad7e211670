"""Group commit (ollamaweb/core/group_commit.py): calls that arrive while a batch runs go together in the next."""

import asyncio
import threading

import pytest

from ollamaweb.core import group_commit
from ollamaweb.core.group_commit import GroupCommit

pytestmark = pytest.mark.django_db  # each batch's thread hop checks the thread's database connection


class Recorder:
    """A `run_many` that records its batches; the first one waits until released."""

    def __init__(self, fail_on=None):
        self.batches = []
        self.release = threading.Event()
        self.fail_on = fail_on

    def __call__(self, items):
        self.batches.append(list(items))
        if len(self.batches) == 1:
            self.release.wait(5)
        if self.fail_on in items:
            raise RuntimeError("the database is down")
        return [item * 10 for item in items]


@pytest.fixture
def one_writer(monkeypatch):
    monkeypatch.setattr(group_commit, "one_writer_thread", lambda: True)


def test_calls_arriving_during_a_batch_go_together_in_the_next(one_writer):
    run_many = Recorder()
    commit = GroupCommit(run_many)

    async def scenario():
        first = asyncio.ensure_future(commit.submit(1))
        while not run_many.batches:  # the first call goes at once, alone
            await asyncio.sleep(0.01)
        others = [asyncio.ensure_future(commit.submit(i)) for i in range(2, 6)]
        await asyncio.sleep(0.05)
        run_many.release.set()
        return await first, await asyncio.gather(*others)

    assert asyncio.run(scenario()) == (10, [20, 30, 40, 50])
    assert run_many.batches == [[1], [2, 3, 4, 5]]


def test_a_failed_batch_fails_each_of_its_calls_and_the_next_batch_still_runs(one_writer):
    run_many = Recorder(fail_on=3)
    commit = GroupCommit(run_many)

    async def scenario():
        first = asyncio.ensure_future(commit.submit(1))
        while not run_many.batches:
            await asyncio.sleep(0.01)
        failing = [asyncio.ensure_future(commit.submit(i)) for i in (2, 3)]
        await asyncio.sleep(0.05)
        run_many.release.set()
        results = [await first, *await asyncio.gather(*failing, return_exceptions=True)]
        return results, await commit.submit(4)

    (first, second, third), later = asyncio.run(scenario())
    assert first == 10 and later == 40
    assert isinstance(second, RuntimeError) and isinstance(third, RuntimeError)


def test_without_one_writer_thread_each_call_runs_on_its_own(monkeypatch):
    monkeypatch.setattr(group_commit, "one_writer_thread", lambda: False)
    batches = []

    def run_many(items):
        batches.append(list(items))
        return [item * 10 for item in items]

    commit = GroupCommit(run_many)

    async def scenario():
        return await asyncio.gather(*(commit.submit(i) for i in range(1, 4)))

    assert asyncio.run(scenario()) == [10, 20, 30]
    assert sorted(batches) == [[1], [2], [3]]
