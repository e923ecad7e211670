"""core/tasks.py: `to_the_end` lets a call that cannot be taken back finish, and says what it did."""

import asyncio

import pytest

from ollamaweb.core.tasks import CancelledAfterward, to_the_end


async def _write(log: list, result="written", fails=False):
    await asyncio.sleep(0.05)
    log.append("done")
    if fails:
        raise OSError("the write failed")
    return result


def _cancelled_after(delay: float, awaitable):
    async def scenario():
        waiting = asyncio.ensure_future(to_the_end(awaitable))
        await asyncio.sleep(delay)
        waiting.cancel()
        await asyncio.sleep(0.01)
        waiting.cancel()  # twice: it still waits
        try:
            await waiting
        except asyncio.CancelledError as exc:
            return exc
        raise AssertionError("not cancelled")

    return asyncio.run(scenario())


def test_without_cancellation_the_result_is_returned():
    assert asyncio.run(to_the_end(_write([]))) == "written"


def test_a_cancelled_caller_waits_for_the_call_and_gets_its_result():
    log = []
    cancelled = _cancelled_after(0.01, _write(log))
    assert log == ["done"]
    assert isinstance(cancelled, CancelledAfterward) and cancelled.result == "written"


def test_a_call_that_failed_after_the_cancellation_gives_a_plain_cancellation():
    log = []
    cancelled = _cancelled_after(0.01, _write(log, fails=True))
    assert log == ["done"]
    assert type(cancelled) is asyncio.CancelledError


def test_a_failure_without_cancellation_propagates():
    with pytest.raises(OSError):
        asyncio.run(to_the_end(_write([], fails=True)))
