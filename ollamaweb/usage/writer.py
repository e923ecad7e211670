"""Writes finished UsageRecords to the database in batches, off the response's critical path.

Requests hand their record to `log_writer.submit()` (synchronous, never blocks, safe inside a
cancelled stream's `finally`); one task per process writes a batch every LOG_FLUSH_INTERVAL
seconds or LOG_BATCH_SIZE rows, and `stop()` (ASGI lifespan shutdown) writes what is left.

No record is lost to one bad value or to a database outage:
- a batch that fails while the database answers is written in halves, down to single rows; a row
  that still cannot be written is set aside (an UnwrittenRequest, with the error, in the admin),
  and its quota reservation is settled all the same;
- while the database does not answer, records wait in memory, up to LOG_MAX_PENDING; beyond that,
  and at shutdown, they are spilled to files in LOG_SPOOL_DIR, written back when it answers again.
"""

import asyncio
import logging
import os
import time
from collections import defaultdict
from functools import partial
from pathlib import Path

import orjson
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, models, transaction

from ollamaweb.core.db import retry_while_locked, run_in_thread
from ollamaweb.core.tasks import spawn
from ollamaweb.keys.models import ApiKey
from ollamaweb.quotas.stores import store_named
from ollamaweb.teams.models import Team

from . import hooks
from .journal import Journal, orphaned_segments
from .models import RequestLog, UnwrittenRequest
from .records import UsageRecord, storable
from .rollups import add_to_rollups

logger = logging.getLogger(__name__)
WARN_EVERY = 30.0  # seconds between warnings while the database is down


def settlements_of(records) -> dict:
    """{quota store name: [(member, {counter: (reserved, used)}), ...]} that settle these records' reservations."""
    per_store = defaultdict(list)
    for record in records:
        if record.settlement:
            per_store[record.settlement_store].append((record.settlement_member, record.settlement))
    return per_store


def write_batch(records: list[UsageRecord]):
    """In one transaction: the log rows, rollups, database quota settlements, keys' last use.

    The rows' keys, users and teams are taken to exist: a batch is not checked first (three
    queries a batch). When one was deleted while its request ran, the database refuses the batch
    and it is written again without the links to what is gone.
    """
    try:
        retry_while_locked(_write_batch, records)
    except IntegrityError:
        _forget_missing_owners(records)
        retry_while_locked(_write_batch, records)


def _write_batch(records: list[UsageRecord]):
    with transaction.atomic():
        insert_rows(records)
        add_to_rollups(records)
        for name, settlements in settlements_of(records).items():
            store_named(name).settle_in_transaction(settlements)
        mark_keys_used(records)


def mark_keys_used(records: list[UsageRecord]):
    """Each key's last use: the latest of its requests in the batch."""
    last_used = {}
    for record in records:
        if record.key_id is not None:
            last_used[record.key_id] = max(record.finished_at, last_used.get(record.key_id, record.finished_at))
    if last_used:
        field = ApiKey._meta.get_field("last_used_at")
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {ApiKey._meta.db_table} SET last_used_at = %s WHERE id = %s",
                [(field.get_db_prep_save(when, connection), key_id) for key_id, when in last_used.items()],
            )


def _forget_missing_owners(records):
    """A key, user or team deleted while its request ran: the row keeps the key prefix, not the link."""
    from django.contrib.auth import get_user_model

    for attribute, model in (("key_id", ApiKey), ("user_id", get_user_model()), ("team_id", Team)):
        ids = {getattr(r, attribute) for r in records} - {None}
        existing = set(model.objects.filter(pk__in=ids).values_list("pk", flat=True)) if ids else set()
        for record in records:
            if getattr(record, attribute) not in existing:
                setattr(record, attribute, None)


# Fields whose values (already of the right Python type in UsageRecord.columns()) go to the
# database as they are; dates through the database's own form of them; anything else through
# Django's conversion for its field.
_AS_THEY_ARE = (models.CharField, models.TextField, models.IntegerField, models.FloatField, models.BooleanField)


def _converter(field, db):
    if isinstance(field, _AS_THEY_ARE) or (
        isinstance(field, models.ForeignKey) and isinstance(field.target_field, models.IntegerField)
    ):
        return None
    if isinstance(field, models.DateTimeField):
        # Only the last step of the field's conversion (the database's form of an aware datetime):
        # the steps before it check and convert values UsageRecord never has (its times are aware,
        # UTC), and were a third of inserting a row (bench/README.md, thirteenth pass).
        return db.ops.adapt_datetimefield_value
    return partial(field.get_db_prep_save, connection=db)


def insert_rows(records: list[UsageRecord]):
    """One executemany INSERT: a third of bulk_create's cost per row (no model instances)."""
    names = list(records[0].columns())
    fields = [RequestLog._meta.get_field(name) for name in names]
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(RequestLog._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))})"
    )
    db = connections[DEFAULT_DB_ALIAS]
    converted = [(index, _converter(field, db)) for index, field in enumerate(fields)]
    converted = [(index, convert) for index, convert in converted if convert is not None]
    rows = []
    for record in records:
        row = list(record.columns().values())
        for index, convert in converted:
            row[index] = convert(row[index])
        rows.append(row)
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def database_answers() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        return False


def write_resiliently(records: list[UsageRecord]) -> int:
    """Write a batch; if it fails, its halves, down to single rows; set aside what cannot be written.

    Returns how many records were set aside. Raises only when the database stops answering.
    """
    try:
        write_batch(records)
        return 0
    except Exception as exc:
        if not database_answers():
            raise
        if len(records) > 1:
            middle = len(records) // 2
            return write_resiliently(records[:middle]) + write_resiliently(records[middle:])
        try:
            set_aside(records[0], exc)
        except Exception:
            if not database_answers():
                raise
            # Not even its JSON could be stored: log it whole rather than block every other row.
            logger.exception(
                "request record could not be set aside either: %s", orjson.dumps(records[0].to_json(), default=str)
            )
        return 1


def set_aside(record: UsageRecord, error: Exception):
    """Keep a record that cannot be a RequestLog row, and settle its quota reservation anyway."""
    logger.error("request %s could not be logged and was set aside: %r", record.request_id, error)
    with transaction.atomic():
        UnwrittenRequest.objects.create(
            request_id=storable(record.request_id, 40),
            error=storable(repr(error), 2000),
            record=_storable_json(record.to_json()),
        )
        for name, settlements in settlements_of([record]).items():
            store_named(name).settle_in_transaction(settlements)


def _storable_json(value):
    if isinstance(value, str):
        return storable(value, len(value))
    if isinstance(value, dict):
        return {storable(str(key), 200): _storable_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_storable_json(item) for item in value]
    return value


class LogWriter:
    def __init__(self):
        self._pending: list[UsageRecord] = []
        self._in_flight = 0  # records of batches being written (pending leaves them before they are settled)
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._database_down_since: float | None = None
        self._last_warning = 0.0
        self.set_aside_total = 0  # records that could not be written (since this process started)
        self.spilled_total = 0  # records written to LOG_SPOOL_DIR while the database was down
        self._look_in_spool = True  # spool files of an earlier run are written on the first flush
        self._stopping = False
        self._journal = Journal()

    def submit(self, record: UsageRecord):
        if record.admission is not None:
            record.settlement = record.admission.settlement(record.total_tokens, record.gpu_ms)
            record.settlement_store = record.admission.store.name
            record.settlement_member = record.admission.member
        hooks.request_finished(record)
        self._journal.append(record)
        self._pending.append(record)
        self._ensure_running()
        if len(self._pending) >= settings.LOG_BATCH_SIZE:
            self._wake.set()

    def _ensure_running(self):
        if self._task is None or self._task.done() or self._task.get_loop() is not asyncio.get_running_loop():
            self._wake = asyncio.Event()
            self._task = spawn(self._run(), name="ollamaweb-log-writer")

    def start(self):
        """Start the writer task now (at server start-up): it first writes what earlier processes
        left in the spool and in their journals."""
        self._ensure_running()

    async def _run(self):
        if self._look_in_spool:
            await self.flush()
        while not self._stopping:
            try:
                await asyncio.wait_for(self._wake.wait(), settings.LOG_FLUSH_INTERVAL)
            except TimeoutError:
                pass
            self._wake.clear()
            await self.flush()

    async def flush(self) -> bool:
        """Write what is pending (and, once the database answers, what was spilled); False if it is down."""
        if self._database_down_since is not None or self._look_in_spool:
            if not await run_in_thread(database_answers):
                self._database_is_down(ConnectionError("no answer to SELECT 1"))
                self._spill_overflow()
                return False
            await self._write_spooled()
            await self._write_orphaned_journals()
            self._look_in_spool = False
        self._journal.rotate()
        # What is pending now, not what comes in meanwhile: under steady load that would be written
        # at once too, in tiny batches back to back, keeping SQLite's write lock (and its one
        # database thread) busy all the time, which quota reservations then wait for.
        taken, self._pending = self._pending, []
        self._in_flight += len(taken)
        try:
            for start in range(0, len(taken), settings.LOG_BATCH_SIZE):
                if not await self._write(taken[start : start + settings.LOG_BATCH_SIZE]):
                    self._pending[:0] = taken[start:]
                    self._spill_overflow()
                    return False
        finally:
            self._in_flight -= len(taken)
        self._journal.forget_closed()
        return True

    async def _write_rows(self, records: list[UsageRecord]):
        """write_resiliently() in the database thread, counting what it set aside."""
        set_aside = await run_in_thread(write_resiliently, records)
        # Added after the await, not with `+= await`: that reads the total before the write, so
        # two flushes at once (the writer's and a caller's) would lose one's count.
        self.set_aside_total += set_aside

    async def _write(self, batch: list[UsageRecord]) -> bool:
        """One batch: its rows (and database settlements), then its Redis settlements and hooks;
        False when the database did not answer (nothing of the batch was written)."""
        try:
            await self._write_rows(batch)
        except Exception as exc:
            self._database_is_down(exc)
            return False
        self._database_down_since = None
        for name, settlements in settlements_of(batch).items():
            try:
                await store_named(name).settle(settlements)
            except Exception:
                logger.exception("could not settle the quota counters of %d requests", len(settlements))
        await hooks.batch_written(batch)
        return True

    def _database_is_down(self, exc: Exception):
        now = time.monotonic()
        if self._database_down_since is None:
            self._database_down_since = now
        if now - self._last_warning >= WARN_EVERY:
            self._last_warning = now
            logger.error(
                "the database is unreachable: %d request-log records wait in memory (%r)", len(self._pending), exc
            )

    def _spill_overflow(self):
        if len(self._pending) > settings.LOG_MAX_PENDING:
            self.spill()

    def spill(self) -> int:
        """Write every pending record to a spool file; returns how many."""
        records, self._pending = self._pending, []
        if not records:
            return 0
        spool = Path(settings.LOG_SPOOL_DIR)
        spool.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = spool / f"requests-{os.getpid()}-{time.time_ns()}.jsonl"
        with open(path, "wb", opener=lambda p, flags: os.open(p, flags, 0o600)) as out:
            for record in records:
                out.write(orjson.dumps(record.to_json()) + b"\n")
        self.spilled_total += len(records)
        self._journal.rotate()
        self._journal.forget_closed()  # the spill file has every record they still had to write
        self._look_in_spool = True
        logger.warning(
            "spilled %d request-log records to %s; they are written when the database answers", len(records), path
        )
        return len(records)

    async def _write_spooled(self):
        for path in spool_files():
            try:
                records = [UsageRecord.from_json(orjson.loads(line)) for line in path.read_bytes().splitlines() if line]
            except (OSError, ValueError) as exc:
                logger.error("could not read spool file %s: %r", path, exc)
                continue
            for start in range(0, len(records), settings.LOG_BATCH_SIZE):
                await self._write_rows(records[start : start + settings.LOG_BATCH_SIZE])
            for name, settlements in settlements_of(records).items():
                try:
                    await store_named(name).settle(settlements)
                except Exception:
                    logger.exception("could not settle spooled quota counters")
            path.unlink()
            logger.warning("wrote %d spooled request-log records from %s", len(records), path)

    async def _write_orphaned_journals(self):
        """Write what dead processes had journaled but not logged (each record once)."""
        for lock_path, segments in orphaned_segments():
            records = []
            for path in segments:
                try:
                    lines = path.read_bytes().splitlines()
                except OSError as exc:
                    logger.error("could not read journal %s: %r", path, exc)
                    continue
                for line in lines:
                    try:
                        records.append(UsageRecord.from_json(orjson.loads(line)))
                    except (ValueError, KeyError, TypeError):
                        pass  # the line a killed process was writing
            fresh = await run_in_thread(not_yet_logged, records)
            for start in range(0, len(fresh), settings.LOG_BATCH_SIZE):
                await self._write_rows(fresh[start : start + settings.LOG_BATCH_SIZE])
            for name, settlements in settlements_of(fresh).items():
                try:
                    await store_named(name).settle(settlements)
                except Exception:
                    logger.exception("could not settle journaled quota counters")
            for path in segments:
                path.unlink(missing_ok=True)
            lock_path.unlink(missing_ok=True)
            if fresh:
                logger.warning("wrote %d request-log records journaled by a process that died", len(fresh))

    async def stop(self) -> tuple[int, int]:
        """Write everything pending (or spill it when the database is down) and stop the task.

        Returns (written, spilled) for the shutdown message.
        """
        if self._task is not None:
            # Let a batch being written finish (cancelling it mid-write could lose or repeat it).
            self._stopping = True
            self._wake.set()
            try:
                await self._task
            finally:
                self._task, self._stopping = None, False
        written = 0
        try:
            while self._pending:  # and what the last requests add meanwhile
                count = len(self._pending)
                if not await self.flush():
                    return written, self.spill()
                written += count
            return written, 0
        finally:
            self._journal.close()

    @property
    def pending(self) -> int:
        """Records not yet written and settled (waiting, or in a batch being written)."""
        return len(self._pending) + self._in_flight


def not_yet_logged(records: list[UsageRecord]) -> list[UsageRecord]:
    """The records whose request id is not in the log yet (a journal may repeat written ones)."""
    ids = [record.request_id for record in records]
    logged = set()
    for start in range(0, len(ids), 500):
        logged.update(
            RequestLog.objects.filter(request_id__in=ids[start : start + 500]).values_list("request_id", flat=True)
        )
    return [record for record in records if record.request_id not in logged]


def spool_files() -> list[Path]:
    spool = Path(settings.LOG_SPOOL_DIR)
    return sorted(spool.glob("requests-*.jsonl")) if spool.is_dir() else []


log_writer = LogWriter()
