"""Where quota counters live: the database (default) or Redis (when REDIS_URL is set).

Both reserve all of a request's checks atomically or none: the database with conditional
UPDATEs in one transaction (counters locked in key order, so no deadlocks), Redis with one Lua
script. Neither reads a counter and then writes it, so concurrent requests cannot overspend.
Token reservations and concurrency slots also leave holds, so that what a crashed process held
comes back (see leases.py).
"""

import asyncio
import time
from collections import defaultdict
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import NamedTuple

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from ollamaweb.core import loop_sqlite
from ollamaweb.core.db import retry_while_locked
from ollamaweb.core.group_commit import GroupCommit
from ollamaweb.core.loops import for_this_loop
from ollamaweb.core.tasks import CancelledAfterward, to_the_end

from . import leases
from .checks import Check
from .counters import CONCURRENT, METERED, REQUESTS, CounterKey
from .models import UsageCounter


@dataclass
class Reservation:
    """What a store answered to a reservation: the check that failed (if any) and what remains."""

    failed: Check | None = None
    remaining: dict[str, int] = field(default_factory=dict)  # per counter: what is left after this request

    @property
    def admitted(self) -> bool:
        return self.failed is None


class _Refused(Exception):
    def __init__(self, check: Check):
        self.check = check


def merge_deltas(many) -> dict[str, tuple[int, int]]:
    """Settlements ({metered counter: (reserved to release, amount used)}) added up."""
    total = defaultdict(lambda: [0, 0])
    for deltas in many:
        for counter, (reserved, used) in deltas.items():
            total[counter][0] += reserved
            total[counter][1] += used
    return {counter: (reserved, used) for counter, (reserved, used) in total.items()}


# A settlement: (the request's member, {metered counter: (reserved to release, amount used)}). The
# reservation is released only if its hold is still there (the reaper may have given it back
# already); records written before holds existed have no member and release as they are.
Settlement = tuple[str, dict[str, tuple[int, int]]]


class DatabaseStore:
    name = "database"

    """Counters in the UsageCounter table.

    The hot path (reserve, release) is plain parameterised SQL rather than the ORM: the ORM's
    query building cost more than the queries themselves (1.4 ms → 0.3 ms a reservation). With
    SQLite it runs on the event loop's thread when the write lock is free (core/loop_sqlite.py),
    and otherwise in the database thread, grouped with the others that wait (core/group_commit.py).
    """

    TABLE = UsageCounter._meta.db_table
    CREATE = f"INSERT INTO {TABLE} (key, used, reserved, updated_at) VALUES (%s, 0, 0, %s) ON CONFLICT (key) DO NOTHING"
    # Each returns the counter's new total (what the request leaves used), or no row when it does not fit.
    RESERVE = (
        f"UPDATE {TABLE} SET reserved = reserved + %s, updated_at = %s WHERE key = %s AND used + reserved + %s <= %s "
        "RETURNING used + reserved"
    )
    TAKE_SLOT = (
        f"UPDATE {TABLE} SET used = used + %s, updated_at = %s WHERE key = %s AND used + %s <= %s "
        "RETURNING used + reserved"
    )
    FREE_SLOT = f"UPDATE {TABLE} SET used = CASE WHEN used > 0 THEN used - 1 ELSE 0 END, updated_at = %s WHERE key = %s"
    SETTLE = (
        f"UPDATE {TABLE} SET reserved = CASE WHEN reserved > %s THEN reserved - %s ELSE 0 END, used = used + %s "
        "WHERE key = %s"
    )
    COUNTS = f"SELECT key, used + reserved FROM {TABLE} WHERE key IN (%s)"

    def __init__(self):
        self._reserving = GroupCommit(partial(retry_while_locked, self._reserve_many))
        self._releasing = GroupCommit(partial(retry_while_locked, self._release_many))
        self._django = _Statements(self, "%s")
        self._sqlite3 = _Statements(self, "?")
        self._taking = loop_sqlite.PassBatch(self._take_here)
        self._freeing = loop_sqlite.PassBatch(self._free_here)

    async def reserve(self, checks: list[Check], member: str) -> Reservation:
        item = (checks, member)
        return await _here_or_queued(partial(self._reserve_here, item), self._taking, self._reserving, item)

    async def _reserve_here(self, item: tuple[list[Check], str], write) -> Reservation:
        """The reservation on the loop thread's SQLite connection, through `write` (the PassBatch's
        `write` or `write_when_free`), or Busy."""
        checks, _ = item
        try:
            return Reservation(remaining=await write(item))
        except _Refused as refused:
            remaining = loop_sqlite.read(self._remaining, self._sqlite3, checks)
            return Reservation(failed=refused.check, remaining=remaining)
        except CancelledAfterward as cancelled:
            raise CancelledAfterward(Reservation(remaining=cancelled.result)) from None

    def _take_here(self, cursor, item: tuple[list[Check], str]) -> dict[str, int]:
        checks, member = item
        return self._take(cursor, self._sqlite3, checks, member, sqlite_now())

    def _reserve_many(self, batch: list[tuple[list[Check], str]]) -> list[Reservation]:
        """Several requests' reservations in one transaction, each in its own savepoint."""
        if len(batch) == 1:
            return [self._reserve(*batch[0])]
        with transaction.atomic():
            return [self._reserve(checks, member) for checks, member in batch]

    def _reserve(self, checks: list[Check], member: str) -> Reservation:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                return Reservation(remaining=self._take(cursor, self._django, checks, member, _db_now()))
        except _Refused as refused:
            with connection.cursor() as cursor:
                return Reservation(failed=refused.check, remaining=self._remaining(cursor, self._django, checks))

    @staticmethod
    def _take(cursor, sql: "_Statements", checks: list[Check], member: str, now) -> dict[str, int]:
        """One conditional UPDATE per counter, which also returns its new total (so no SELECT on the
        way in); the counter's row is created only when the UPDATE finds none (a new period). What
        remains per counter, or _Refused (the caller rolls back)."""
        remaining = {}
        for check in checks:  # in counter order: concurrent reservations lock rows alike
            query = sql.reserve if check.kind in METERED else sql.take_slot
            params = (check.cost, now, check.counter, check.cost, check.limit)
            cursor.execute(query, params)
            row = cursor.fetchone()
            if row is None:  # no such row yet, or no room: create it (if missing) and try again
                cursor.execute(sql.create, (check.counter, now))
                cursor.execute(query, params)
                row = cursor.fetchone()
                if row is None:
                    raise _Refused(check)
            remaining[check.counter] = check.limit - row[0]
        leases.db_add_holds(cursor, member, checks, sql.mark)
        return remaining

    @staticmethod
    def _remaining(cursor, sql: "_Statements", checks: list[Check]) -> dict[str, int]:
        cursor.execute(sql.counts % ", ".join([sql.mark] * len(checks)), [c.counter for c in checks])
        counts = dict(cursor.fetchall())
        return {c.counter: c.limit - (counts.get(c.counter) or 0) for c in checks}

    async def release(self, checks: list[Check], member: str):
        counters = [c.counter for c in checks if c.kind == CONCURRENT]
        if counters:
            item = (counters, member)
            await _here_or_queued(lambda write: write(item), self._freeing, self._releasing, item)

    def _free_here(self, cursor, item: tuple[list[str], str]):
        counters, member = item
        self._free(cursor, self._sqlite3, counters, member, sqlite_now())

    def _release_many(self, batch: list[tuple[list[str], str]]) -> list[None]:
        now = _db_now()
        with transaction.atomic(), connection.cursor() as cursor:
            for counters, member in batch:
                self._free(cursor, self._django, counters, member, now)
        return [None] * len(batch)

    @staticmethod
    def _free(cursor, sql: "_Statements", counters: list[str], member: str, now):
        for counter in leases.db_take_slot_holds(cursor, member, counters, sql.mark):  # unless the reaper freed it
            cursor.execute(sql.free_slot, (now, counter))

    def settle_in_transaction(self, settlements: list[Settlement]):
        """Release reservations still held and add what was used; inside the log writer's transaction."""
        members = [member for member, _ in settlements if member]
        held = set()
        if members:
            with connection.cursor() as cursor:
                held = leases.db_take_reserved_holds(cursor, members)
        deltas = merge_deltas(
            {counter: (reserved if not member or (member, counter) in held else 0, used)}
            for member, deltas in settlements
            for counter, (reserved, used) in deltas.items()
        )
        if deltas:
            with connection.cursor() as cursor:
                cursor.executemany(self.SETTLE, [(deltas[c][0], deltas[c][0], deltas[c][1], c) for c in sorted(deltas)])

    async def settle(self, settlements: list[Settlement]):
        """Nothing to do outside the log writer's transaction."""

    async def usage(self, counters: list[str]) -> dict[str, int]:
        """For the portal (served by Django's regular handler, so the async ORM is fine there)."""
        rows = UsageCounter.objects.filter(key__in=counters).values_list("key", "used")
        return {key: used async for key, used in rows}


async def _here_or_queued(here, batch: loop_sqlite.PassBatch, group: GroupCommit, item):
    """`await here(write)` on the loop's thread when SQLite lets it (`loop_sqlite.write_here`, `write`
    being one of `batch`'s); otherwise (not SQLite, SQLite refused the transaction, the lock stayed
    taken) `item` goes to `group`, in the database thread, which waits for the lock. Once queued, it
    is written even if the caller is cancelled meanwhile: then CancelledAfterward says what was
    written (core/tasks.py)."""
    try:
        return await loop_sqlite.write_here(here, batch)
    except loop_sqlite.Busy:
        return await to_the_end(group.submit(item))


class _Statements:
    """DatabaseStore's hot-path statements with one cursor's parameter marker (Django's `%s`, sqlite3's `?`)."""

    def __init__(self, store: DatabaseStore, mark: str):
        self.mark = mark
        self.create, self.reserve, self.take_slot, self.free_slot = (
            query.replace("%s", mark) for query in (store.CREATE, store.RESERVE, store.TAKE_SLOT, store.FREE_SLOT)
        )
        self.counts = store.COUNTS  # its one %s is filled with the markers of the keys


def _db_now():
    """The time now as Django's connection stores it, for plain SQL through Django's cursor (on
    SQLite, the aware datetime itself went through sqlite3's own adapter, as "...+00:00")."""
    return connection.ops.adapt_datetimefield_value(timezone.now())


def sqlite_now() -> str:
    """The time now as Django stores it in SQLite (naive UTC, `str()`), for statements run through sqlite3."""
    return str(datetime.now(UTC).replace(tzinfo=None))


RESERVE_SCRIPT = """
local now, member = tonumber(ARGV[1]), ARGV[2]
local holds, instances, instance = ARGV[#ARGV - 2], ARGV[#ARGV - 1], ARGV[#ARGV]
local current = {}
for i = 1, #KEYS do
  local base = 2 + (i - 1) * 4
  local kind, limit, cost = ARGV[base + 1], tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3])
  local value
  if kind == 'tokens' or kind == 'gpu' then
    value = tonumber(redis.call('HGET', KEYS[i], 'used') or '0') + tonumber(redis.call('HGET', KEYS[i], 'reserved') or '0')
  elseif kind == 'requests' then
    value = tonumber(redis.call('GET', KEYS[i]) or '0')
  else
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
    value = redis.call('ZCARD', KEYS[i])
  end
  if value + cost > limit then
    return {i, limit - value}
  end
  current[i] = value
end
local left = {0}
for i = 1, #KEYS do
  local base = 2 + (i - 1) * 4
  local kind, limit, cost, ttl = ARGV[base + 1], tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3]), tonumber(ARGV[base + 4])
  if kind == 'tokens' or kind == 'gpu' then
    redis.call('HINCRBY', KEYS[i], 'reserved', cost)
    redis.call('HSET', holds, member .. ' ' .. KEYS[i], cost)
  elseif kind == 'requests' then
    redis.call('INCRBY', KEYS[i], cost)
  else
    redis.call('ZADD', KEYS[i], now + ttl, member)
    redis.call('HSET', holds, member .. ' ' .. KEYS[i], cost)
  end
  redis.call('EXPIRE', KEYS[i], ttl)
  left[i + 1] = limit - current[i] - cost
end
redis.call('ZADD', instances, 'NX', now, instance)
return left
"""

# ARGV: per settlement and counter, (holds hash, member or "", counter key, reserved, used)
SETTLE_SCRIPT = """
for i = 1, #ARGV, 5 do
  local key = ARGV[i + 2]
  if ARGV[i + 1] == '' or redis.call('HDEL', ARGV[i], ARGV[i + 1] .. ' ' .. key) == 1 then
    redis.call('HINCRBY', key, 'reserved', -tonumber(ARGV[i + 3]))
  end
  redis.call('HINCRBY', key, 'used', ARGV[i + 4])
end
"""


class _LoopClient(NamedTuple):
    """A RedisStore's Redis access for one event loop."""

    client: object  # redis.asyncio.Redis, over a pool of at most REDIS_MAX_CONNECTIONS
    slots: asyncio.Semaphore  # the pool's connections, waited for in order
    scripts: dict  # {"reserve", "settle": redis-py Script}, called by SHA1
    pipeline: object  # core.redis_pass.PassPipeline: reservations and releases of one pass together


class RedisStore:
    """Counters in Redis.

    Each event loop has a client whose pool holds at most REDIS_MAX_CONNECTIONS connections, and a
    semaphore of the same size in front of it: a burst of requests queues on the semaphore (FIFO,
    no deadline) instead of on the pool, whose wait has a deadline and then fails as "No connection
    available" — which admission would read as the store being down. A store that is really down
    still fails fast: connecting and every command have their own 2 s timeouts. Reservations and
    releases asked for in one pass of the loop go out together, as one pipeline on one connection
    (core/redis_pass.py).
    """

    name = "redis"
    prefix = "ollamaweb:quota:"

    def __init__(self, url: str):
        self.url = url
        self._clients = {}

    def _client(self):
        return self._for_loop().client

    def _for_loop(self) -> "_LoopClient":
        return for_this_loop(self._clients, lambda entry: False, self._new_loop_client)

    def _new_loop_client(self) -> "_LoopClient":
        import redis.asyncio as redis

        from ollamaweb.core.redis_pass import PassPipeline

        size = settings.REDIS_MAX_CONNECTIONS
        pool = redis.ConnectionPool.from_url(self.url, max_connections=size, socket_timeout=2, socket_connect_timeout=2)
        client = redis.Redis(connection_pool=pool)
        # Sent by their SHA1 (EVALSHA), loaded once: not 1.5 KB of script text per request.
        scripts = {
            "reserve": client.register_script(RESERVE_SCRIPT),
            "settle": client.register_script(SETTLE_SCRIPT),
        }
        slots = asyncio.Semaphore(size)
        pipeline = PassPipeline(pool, slots, [script.script for script in scripts.values()])
        return _LoopClient(client, slots, scripts, pipeline)

    def _script(self, name: str):
        return self._for_loop().scripts[name]

    @asynccontextmanager
    async def _connection_slot(self):
        """The client, once one of the pool's connections is ours to use."""
        entry = self._for_loop()
        async with entry.slots:
            yield entry.client

    async def reserve(self, checks: list[Check], member: str) -> Reservation:
        keys = [self.prefix + check.counter for check in checks]
        args = [time.time(), member]
        for check in checks:
            args += [check.kind, check.limit, check.cost, check.ttl]
        args += [leases.redis_holds_key(self, member), self.prefix + leases.REDIS_INSTANCES, leases.instance_of(member)]
        entry = self._for_loop()
        try:
            (result,) = await entry.pipeline.call(("EVALSHA", entry.scripts["reserve"].sha, len(keys), *keys, *args))
        except CancelledAfterward as cancelled:
            raise CancelledAfterward(self._reservation(checks, cancelled.result[0])) from None
        return self._reservation(checks, result)

    @staticmethod
    def _reservation(checks: list[Check], result) -> Reservation:
        failed_index = int(result[0])
        if failed_index:
            check = checks[failed_index - 1]
            return Reservation(failed=check, remaining={check.counter: int(result[1])})
        return Reservation(remaining={c.counter: int(v) for c, v in zip(checks, result[1:])})

    async def release(self, checks: list[Check], member: str):
        commands = []
        for check in checks:
            if check.kind == CONCURRENT:
                commands.append(("ZREM", self.prefix + check.counter, member))
                commands.append(
                    ("HDEL", leases.redis_holds_key(self, member), f"{member} {self.prefix}{check.counter}")
                )
        if commands:
            await self._for_loop().pipeline.call(*commands)

    def settle_in_transaction(self, settlements: list[Settlement]):
        """Redis counters are settled by settle(), after the log rows are written."""

    async def settle(self, settlements: list[Settlement]):
        args = []
        for member, deltas in settlements:
            holds = leases.redis_holds_key(self, member) if member else ""
            for counter, (reserved, used) in deltas.items():
                args += [holds, member, self.prefix + counter, reserved, used]
        if args:
            async with self._connection_slot():
                await self._script("settle")(args=args)

    async def usage(self, counters: list[str]) -> dict[str, int]:
        values = {}
        async with self._connection_slot() as client:
            for counter in counters:
                key, kind = self.prefix + counter, CounterKey.parse(counter).kind
                if kind in METERED:
                    values[counter] = int(await client.hget(key, "used") or 0)
                elif kind == REQUESTS:
                    values[counter] = int(await client.get(key) or 0)
        return values


_stores: dict[str, object] = {}


def store_named(name: str):
    """The store a settlement written to disk belongs to (the database, or this server's Redis)."""
    return _store_at(settings.REDIS_URL if name == RedisStore.name else "")


def current_store():
    """The store for the current settings (tests switch REDIS_URL on and off)."""
    return _store_at(settings.REDIS_URL if settings.QUOTA_STORE != "database" else "")


def _store_at(redis_url: str):
    """One store per Redis URL ("": the database), made once."""
    store = _stores.get(redis_url)
    if store is None:
        store = _stores[redis_url] = RedisStore(redis_url) if redis_url else DatabaseStore()
    return store
