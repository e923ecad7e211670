"""The request log loses no row: one bad row is set aside (quota settled all the same), a key deleted
while its stream runs still leaves a row, and the other requests keep being logged."""

import threading
from datetime import UTC, datetime, timedelta, timezone

import httpx
import openai
import pytest
from django.db import connection

from ollamaweb.keys.services import delete_keys, issue_key
from ollamaweb.quotas import services as quota_services
from ollamaweb.quotas.models import UsageCounter
from ollamaweb.usage.models import RequestLog, UnwrittenRequest
from ollamaweb.usage.records import UsageRecord
from ollamaweb.usage.writer import write_batch
from tests.conftest import only_log, settle_logs
from tests.fake_ollama import Reply

pytestmark = pytest.mark.stores  # runs again on PostgreSQL
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def poison_trigger(transactional_db):
    """Make the database itself refuse request-log rows whose client user is 'poison'."""
    table = RequestLog._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE OR REPLACE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN "
                "IF NEW.client_user = 'poison' THEN RAISE EXCEPTION 'poison row'; END IF; RETURN NEW; END $$ "
                "LANGUAGE plpgsql"
            )
            cursor.execute(
                f"CREATE TRIGGER refuse_poison BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION refuse_poison()"
            )
        else:
            cursor.execute(
                f"CREATE TRIGGER refuse_poison BEFORE INSERT ON {table} WHEN NEW.client_user = 'poison' "
                "BEGIN SELECT RAISE(ABORT, 'poison row'); END"
            )
    yield
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER IF EXISTS refuse_poison ON {table}" if connection.vendor == "postgresql"
                       else "DROP TRIGGER IF EXISTS refuse_poison")  # fmt: skip


def test_poison_rows_are_set_aside_and_every_other_row_is_written(
    client, gateway, fake_ollama, api_key, poison_trigger
):
    quota_services.set_limits(user=api_key[0].user, tokens_per_day=1_000_000)
    users = ["poison" if i % 7 == 3 else f"u{i}" for i in range(21)]  # 3 poison rows among 21

    for name in users:
        client.chat.completions.create(model="llama3", messages=HI, user=name, max_tokens=50)

    settle_logs(gateway)
    assert RequestLog.objects.count() == 18
    assert sorted(RequestLog.objects.values_list("client_user", flat=True)) == sorted(u for u in users if u != "poison")
    unwritten = list(UnwrittenRequest.objects.all())
    assert len(unwritten) == 3 and all("poison row" in row.error for row in unwritten)
    assert {row.record["client_user"] for row in unwritten} == {"poison"}
    # Every request's reservation was settled to what it used, the set-aside ones too.
    [counter] = UsageCounter.objects.filter(key__startswith=f"t:u{api_key[0].user_id}:d:")
    assert counter.reserved == 0
    logged = sum(row.total_tokens for row in RequestLog.objects.all())
    set_aside = sum(row.record["prompt_tokens"] + row.record["completion_tokens"] for row in unwritten)
    assert set_aside > 0 and counter.used == logged + set_aside


def test_nul_and_control_characters_are_stored_as_replacement_characters(client, gateway, fake_ollama):
    client.chat.completions.create(model="llama3", messages=HI, user="a\u0000b\u0007c")
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="ll\u0000ama", messages=HI)

    settle_logs(gateway)
    rows = {row.status: row for row in RequestLog.objects.all()}
    assert rows[200].client_user == "a\ufffdb\ufffdc"
    assert rows[404].requested_model == "ll\ufffdama"
    client.chat.completions.create(model="llama3", messages=HI)  # and the log goes on
    assert settle_logs(gateway) == 3


def test_a_key_deleted_while_its_stream_runs_still_leaves_its_row(gateway, fake_ollama, api_key):
    key, secret = api_key
    fake_ollama.reply = Reply(content="one two three four five six seven eight", token_delay=0.1)
    body = {"model": "llama3", "messages": HI, "stream": True}
    started, finished = threading.Event(), []

    def stream():
        with httpx.stream(
            "POST", f"{gateway.url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {secret}"}
        ) as response:
            for _ in response.iter_bytes():
                started.set()
            finished.append(response.status_code)

    thread = threading.Thread(target=stream)
    thread.start()
    assert started.wait(5)
    delete_keys([key])
    thread.join(10)

    assert finished == [200]
    row = only_log(gateway)
    assert (row.api_key_id, row.key_prefix, row.user_id) == (None, key.prefix, key.user_id)
    assert row.prompt_tokens > 0 and row.completion_tokens == 8 and row.usage_source == "measured"


def test_a_batch_with_one_deleted_key_keeps_every_row_and_the_other_links(api_key):
    """The batch is written without checking its keys first: the database's refusal of the one
    deleted key makes it write the batch again without that link, and only that one."""
    (kept, _), (gone, _) = api_key, issue_key(api_key[0].user, "deleted mid-request")
    records = []
    for key in (kept, gone, kept):
        record = UsageRecord(endpoint="chat.completions", user_id=key.user_id, key_id=key.id, key_prefix=key.prefix)
        record.finish(200)
        records.append(record)
    delete_keys([gone])

    write_batch(records)

    rows = RequestLog.objects.order_by("id").values_list("api_key_id", "key_prefix", "user_id")
    assert list(rows) == [(k.id if k is kept else None, k.prefix, k.user_id) for k in (kept, gone, kept)]
    kept.refresh_from_db()
    assert kept.last_used_at == records[2].finished_at


@pytest.mark.stores
def test_a_row_s_times_are_stored_as_the_instants_they_were(api_key):
    """Whatever time zone they were taken in."""
    key, _ = api_key
    at = datetime(2026, 12, 5, 3, 4, 5, 678901, tzinfo=UTC)
    elsewhere = at.astimezone(timezone(timedelta(hours=-7)))
    times = [(at, at), (elsewhere, elsewhere), (at, elsewhere)]
    records = []
    for created_at, finished_at in times:
        record = UsageRecord(endpoint="chat.completions", user_id=key.user_id, key_id=key.id, key_prefix=key.prefix)
        record.finish(200)
        record.created_at, record.finished_at = created_at, finished_at
        records.append(record)

    write_batch(records)

    rows = list(RequestLog.objects.order_by("id").values_list("created_at", "finished_at"))
    assert rows == [(at, at)] * 3


def test_an_unwritable_journal_fails_no_request(client, gateway, fake_ollama, settings, tmp_path):
    from ollamaweb.usage.writer import log_writer

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")  # the spool "folder" is a file: no journal segment can be opened there
    settings.LOG_SPOOL_DIR = str(blocked)
    try:
        client.chat.completions.create(model="llama3", messages=HI)
        gateway.call(log_writer.flush())  # the next segment is opened here, or was by that request: in vain
        assert log_writer._journal._broken
        for _ in range(3):
            client.chat.completions.create(model="llama3", messages=HI)
        assert settle_logs(gateway) == 4
    finally:
        log_writer._journal._broken = False


def test_under_steady_load_a_flush_writes_what_was_pending_not_tiny_batches_back_to_back(
    settings, tmp_path, monkeypatch
):
    """Records keep coming while a batch is written: they wait for the next flush (interval or
    batch size), not go out at once in batches of two or three back to back, which kept SQLite's
    write lock and database thread busy all the time (quota reservations waited behind them)."""
    import asyncio
    import time

    from ollamaweb.usage import writer

    settings.LOG_SPOOL_DIR, settings.LOG_FLUSH_INTERVAL, settings.LOG_BATCH_SIZE = str(tmp_path), 0.1, 200
    batches = []

    def write_resiliently(records):
        time.sleep(0.003)  # the database's time for a batch
        batches.append([record.request_id for record in records])
        return 0

    monkeypatch.setattr(writer, "write_resiliently", write_resiliently)
    monkeypatch.setattr(writer, "run_in_thread", asyncio.to_thread)  # no database here
    log = writer.LogWriter()
    log._look_in_spool = False
    submitted = []

    async def steady_load():
        for _ in range(500):  # one request finishing every ~1 ms for ~0.5 s
            record = UsageRecord(endpoint="chat.completions")
            record.finish(200)
            log.submit(record)
            submitted.append(record.request_id)
            await asyncio.sleep(0.001)
        return await log.stop()

    _, spilled = asyncio.run(steady_load())

    assert spilled == 0
    assert sorted(i for batch in batches for i in batch) == sorted(submitted)  # each once
    assert len(batches) <= 12  # ~every 0.1 s (or 200 rows), and what the end left


def test_rows_set_aside_by_two_flushes_at_once_are_all_counted(settings, tmp_path, monkeypatch):
    """The writer's own flush and a caller's (settle_logs, shutdown) may write batches at the same
    time: each batch's rows set aside count, none lost to the other."""
    import asyncio
    import time

    from ollamaweb.usage import writer

    settings.LOG_SPOOL_DIR = str(tmp_path)

    def write_resiliently(records):
        time.sleep(0.02)  # both batches in the database thread at once
        return len(records)  # every row set aside

    monkeypatch.setattr(writer, "write_resiliently", write_resiliently)
    monkeypatch.setattr(writer, "run_in_thread", asyncio.to_thread)  # no database here
    monkeypatch.setattr(writer, "settlements_of", lambda records: {})
    log = writer.LogWriter()

    async def two_batches_at_once():
        batches = [[UsageRecord(endpoint="chat.completions") for _ in range(size)] for size in (1, 2)]
        return await asyncio.gather(*(log._write(batch) for batch in batches))

    assert asyncio.run(two_batches_at_once()) == [True, True]
    assert log.set_aside_total == 3
