"""The journal's segments: the next one is opened by the flush, so a request never creates a file."""

import asyncio

import pytest

from ollamaweb.usage import writer
from ollamaweb.usage.records import UsageRecord


def finished_record() -> UsageRecord:
    record = UsageRecord(endpoint="chat.completions")
    record.finish(200)
    return record


@pytest.fixture
def log(settings, tmp_path, monkeypatch):
    """A log writer whose batches go nowhere (no database), journaling into tmp_path."""
    settings.LOG_SPOOL_DIR = str(tmp_path)
    monkeypatch.setattr(writer, "write_resiliently", lambda records: 0)
    monkeypatch.setattr(writer, "run_in_thread", asyncio.to_thread)
    log = writer.LogWriter()
    log._look_in_spool = False
    return log


def segments(tmp_path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in tmp_path.glob("journal-*.jsonl")}


def test_after_a_flush_the_next_record_goes_to_a_segment_already_open(log, tmp_path):
    async def scenario():
        log.submit(finished_record())
        await log.flush()
        waiting = segments(tmp_path)
        log.submit(finished_record())
        after = segments(tmp_path)
        await log.stop()
        return waiting, after

    waiting, after = asyncio.run(scenario())
    assert list(waiting.values()) == [b""]  # the first segment is gone (written), the next one open
    assert after.keys() == waiting.keys()  # the record went into it: no file made by the request
    assert after[next(iter(after))].count(b"\n") == 1


def test_flushes_with_nothing_new_make_no_segments(log, tmp_path):
    async def scenario():
        log.submit(finished_record())
        await log.flush()
        opened = segments(tmp_path)
        for _ in range(5):
            await log.flush()
        return opened, segments(tmp_path)

    opened, after_idle_flushes = asyncio.run(scenario())
    assert after_idle_flushes == opened


def test_stopping_leaves_no_empty_segment(log, tmp_path):
    async def scenario():
        log.submit(finished_record())
        await log.stop()

    asyncio.run(scenario())
    assert segments(tmp_path) == {}
