"""Leases: what a crashed gateway process held in the quota counters comes back.

Every token reservation and concurrency slot is written twice, in the same transaction (database)
or Lua script (Redis): in its counter, and as a *hold* — (member, counter, amount), where the
member is the request's id and starts with its process's instance id. Releasing a slot and
settling a reservation delete the hold, and change the counter only if the hold was still there.

Each process renews a heartbeat every QUOTA_LEASE_SECONDS / 3 seconds. The reaper (at start-up and
after every heartbeat, in every process) gives back the holds of instances whose heartbeat is
older than QUOTA_LEASE_SECONDS, and deletes them with the instance. A hold is thus given back
exactly once, by its request or by the reaper, even when a later process settles a spooled record
of a dead one; and a crash locks nobody out for longer than the lease plus one heartbeat interval.
A graceful shutdown gives back what the process still holds at once.
"""

import asyncio
import contextlib
import logging
import os
import re
import secrets
import socket
from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from ollamaweb.core.db import run_in_thread
from ollamaweb.core.tasks import spawn

from .counters import CONCURRENT, METERED, kind_of, prefix_of
from .models import QuotaHold, QuotaInstance, UsageCounter

logger = logging.getLogger(__name__)

_instance: tuple[int, str] | None = None


def instance_id() -> str:
    """This process, as holds name it: `host:pid:random` (new after a fork)."""
    global _instance
    pid = os.getpid()
    if _instance is None or _instance[0] != pid:
        host = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname())[:40]  # no space or slash: they separate
        _instance = (pid, f"{host}:{pid}:{secrets.token_hex(4)}")
    return _instance[1]


def new_member() -> str:
    """A request's id in the counters and holds: `<instance>/<random>`."""
    return f"{instance_id()}/{secrets.token_hex(8)}"


def instance_of(member: str) -> str:
    return member.rpartition("/")[0]


def held(checks) -> list:
    """The checks that leave a hold: reservations (tokens, GPU time) and concurrency slots (not request counts)."""
    return [check for check in checks if check.kind in METERED or check.kind == CONCURRENT]


def heartbeat_interval() -> float:
    return max(0.5, settings.QUOTA_LEASE_SECONDS / 3)


# -- the database ------------------------------------------------------------------------------

HOLDS = QuotaHold._meta.db_table


def db_add_holds(cursor, member: str, checks, mark: str = "%s"):
    """Inside the reservation's transaction: one row per held counter, in one statement. `mark`:
    the cursor's parameter marker (Django's `%s`, or sqlite3's `?`)."""
    checks = held(checks)
    if checks:
        instance = instance_of(member)
        values = ", ".join([f"({mark}, {mark}, {mark}, {mark})"] * len(checks))
        params = [value for check in checks for value in (member, instance, check.counter, check.cost)]
        cursor.execute(f"INSERT INTO {HOLDS} (member, instance, counter, amount) VALUES {values}", params)


def db_take_slot_holds(cursor, member: str, counters: list[str], mark: str = "%s") -> list[str]:
    """Delete a request's concurrency holds; the counters whose hold was still there."""
    marks = ", ".join([mark] * len(counters))
    cursor.execute(
        f"DELETE FROM {HOLDS} WHERE member = {mark} AND counter IN ({marks}) RETURNING counter", [member, *counters]
    )
    return [row[0] for row in cursor.fetchall()]


def db_take_reserved_holds(cursor, members: list[str]) -> set[tuple[str, str]]:
    """Delete these requests' reservation holds (tokens, GPU time); the (member, counter) pairs still there."""
    taken = set()
    for start in range(0, len(members), 500):
        chunk = members[start : start + 500]
        cursor.execute(
            f"DELETE FROM {HOLDS} WHERE member IN ({', '.join(['%s'] * len(chunk))}) AND counter NOT LIKE %s "
            "RETURNING member, counter",
            [*chunk, prefix_of(CONCURRENT) + "%"],
        )
        taken.update(cursor.fetchall())
    return taken


def give_back(amounts: dict[str, int]):
    """Take `amounts` ({counter: n}) off the counters: reserved tokens, or used concurrency slots."""
    for counter in sorted(amounts):  # in key order, as reservations lock them
        column = "used" if kind_of(counter) == CONCURRENT else "reserved"
        UsageCounter.objects.filter(key=counter).update(**{column: Greatest(F(column) - amounts[counter], 0)})


def db_beat(instance: str):
    QuotaInstance.objects.bulk_create(
        [QuotaInstance(instance=instance, heartbeat_at=timezone.now())],
        update_conflicts=True,
        unique_fields=["instance"],
        update_fields=["heartbeat_at"],
    )


def db_reap(me: str, lease_seconds: float, suspects: set[str], everyone_but_me=False) -> tuple[int, set[str]]:
    """Give back the holds of dead instances; returns (holds given back, orphans seen now).

    Dead: a heartbeat older than the lease; or holds with no instance row at all (its row was
    deleted), when the previous round (`suspects`) saw them too — a process registers before its
    first hold is a round old. `everyone_but_me` (for tests) ignores ages.
    """
    with transaction.atomic():
        cutoff = timezone.now() - timedelta(seconds=lease_seconds)
        instances = dict(QuotaInstance.objects.values_list("instance", "heartbeat_at"))
        dead = {name for name, beat in instances.items() if beat < cutoff or everyone_but_me} - {me}
        holders = set(QuotaHold.objects.values_list("instance", flat=True).distinct())
        orphans = holders - set(instances) - {me}
        doomed = dead | (orphans & suspects) | (orphans if everyone_but_me else set())
        given = 0
        if doomed & holders:
            names = sorted(doomed & holders)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"DELETE FROM {HOLDS} WHERE instance IN ({', '.join(['%s'] * len(names))}) "
                    "RETURNING counter, amount",
                    names,
                )
                rows = cursor.fetchall()
            amounts = defaultdict(int)
            for counter, amount in rows:
                amounts[counter] += amount
            give_back(amounts)
            given = len(rows)
            logger.warning(
                "gave back %d quota holds of %d stopped gateway processes (%s)", given, len(names), ", ".join(names)
            )
        if dead:
            QuotaInstance.objects.filter(instance__in=dead).delete()
    return given, orphans - doomed


def db_forget(me: str) -> int:
    """At shutdown: give back what this process still holds, and forget it."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {HOLDS} WHERE instance = %s RETURNING counter, amount", [me])
            rows = cursor.fetchall()
        amounts = defaultdict(int)
        for counter, amount in rows:
            amounts[counter] += amount
        give_back(amounts)
        QuotaInstance.objects.filter(instance=me).delete()
    return len(rows)


# -- Redis -------------------------------------------------------------------------------------

REDIS_INSTANCES = "instances"  # a sorted set: instance → heartbeat (Redis time), under the store's prefix
REDIS_HOLDS = "holds:"  # + instance: a hash "<member> <counter key>" → amount

BEAT_SCRIPT = """
redis.call('ZADD', KEYS[1], redis.call('TIME')[1], ARGV[1])
"""

# KEYS: instances, the instance's holds; ARGV: instance, lease (or -1: now, whatever its age),
# the prefix of concurrency counter keys. Returns how many holds were given back (-1: alive).
REAP_SCRIPT = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
local lease = tonumber(ARGV[2])
if lease >= 0 and score and tonumber(score) > tonumber(redis.call('TIME')[1]) - lease then
  return -1
end
local holds = redis.call('HGETALL', KEYS[2])
local slots = ARGV[3]
for j = 1, #holds, 2 do
  local field, amount = holds[j], tonumber(holds[j + 1])
  local space = string.find(field, ' ', 1, true)
  local member, key = string.sub(field, 1, space - 1), string.sub(field, space + 1)
  if string.sub(key, 1, #slots) == slots then
    redis.call('ZREM', key, member)
  elseif redis.call('HINCRBY', key, 'reserved', -amount) < 0 then
    redis.call('HSET', key, 'reserved', 0)
  end
end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[1])
return #holds / 2
"""


def redis_holds_key(store, member: str) -> str:
    return store.prefix + REDIS_HOLDS + instance_of(member)


# Every Redis call goes through the store's connection slots (RedisStore._connection_slot): one
# taken outside them could find the pool's last connection gone to a burst of admissions, and
# make one of those fail with "Too many connections" (a 503).


async def redis_beat(store, instance: str):
    async with store._connection_slot() as client:
        await client.eval(BEAT_SCRIPT, 1, store.prefix + REDIS_INSTANCES, instance)


async def redis_reap(store, me: str, lease_seconds: float, everyone_but_me=False) -> int:
    instances = store.prefix + REDIS_INSTANCES
    async with store._connection_slot() as client:
        if everyone_but_me:
            names = [name.decode() for name in await client.zrange(instances, 0, -1)]
        else:
            now = float((await client.time())[0])
            names = [name.decode() for name in await client.zrangebyscore(instances, "-inf", now - lease_seconds)]
    given, gone = 0, []
    for name in names:
        if name == me:
            continue
        lease = -1 if everyone_but_me else lease_seconds
        count = await _redis_reap_one(store, name, lease)
        if count >= 0:
            given += count
            gone.append(name)
    if given:
        logger.warning(
            "gave back %d quota holds of %d stopped gateway processes (%s)", given, len(gone), ", ".join(gone)
        )
    return given


async def _redis_reap_one(store, instance: str, lease: float) -> int:
    keys = [store.prefix + REDIS_INSTANCES, store.prefix + REDIS_HOLDS + instance]
    async with store._connection_slot() as client:
        return int(await client.eval(REAP_SCRIPT, 2, *keys, instance, lease, store.prefix + prefix_of(CONCURRENT)))


# -- the heartbeat task --------------------------------------------------------------------------


def stores_in_use() -> list:
    """The database always (its holds may outlive a switch to Redis), and Redis when configured."""
    from .stores import DatabaseStore, current_store, store_named

    stores = [store_named(DatabaseStore.name)]
    store = current_store()
    if store not in stores:
        stores.append(store)
    return stores


class LeaseKeeper:
    """One per process: renews this instance's heartbeat and reaps dead instances' holds."""

    def __init__(self):
        self._task: asyncio.Task | None = None
        self._suspects: set[str] = set()
        self._failing: set[str] = set()  # stores that failed the last round (warned once per outage)
        self.given_back = 0  # holds of other processes given back by this one

    def ensure_running(self):
        """Cheap enough for every admission: starts the task on first use (servers without lifespan)."""
        task = self._task
        if task is None or task.done() or task.get_loop() is not asyncio.get_running_loop():
            self._task = spawn(self._run(), name="ollamaweb-quota-leases")

    async def _run(self):
        while True:
            await self.beat_and_reap()
            await asyncio.sleep(heartbeat_interval())

    async def beat_and_reap(self, everyone_but_me=False) -> int:
        """Renew the heartbeat, then give back dead instances' holds; how many were given back."""
        me, lease, given = instance_id(), settings.QUOTA_LEASE_SECONDS, 0
        for store in stores_in_use():
            try:
                if store.name == "redis":
                    await redis_beat(store, me)
                    given += await redis_reap(store, me, lease, everyone_but_me)
                else:
                    await run_in_thread(db_beat, me)
                    count, self._suspects = await run_in_thread(db_reap, me, lease, self._suspects, everyone_but_me)
                    given += count
            except Exception as exc:  # a store that is down: its holds wait for the next round
                if store.name not in self._failing:
                    self._failing.add(store.name)
                    logger.warning("quota leases: could not renew or reap in the %s store: %r", store.name, exc)
            else:
                if store.name in self._failing:
                    self._failing.discard(store.name)
                    logger.warning("quota leases: the %s store answers again", store.name)
        self.given_back += given
        return given

    async def stop(self) -> int:
        """At shutdown, after the log writer settled what it could: give back what is still held."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        me, given = instance_id(), 0
        for store in stores_in_use():
            try:
                if store.name == "redis":
                    given += max(0, await _redis_reap_one(store, me, -1))
                else:
                    given += await run_in_thread(db_forget, me)
            except Exception as exc:
                logger.warning("quota leases: could not give back this process's holds (%s): %r", store.name, exc)
        return given


lease_keeper = LeaseKeeper()
