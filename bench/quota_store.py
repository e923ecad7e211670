"""CPU per request of the quota store's hot path: reserve, release, settle (in batches of 200, as the
log writer does), in the database store and, when REDIS_URL is set, in Redis. Best of 3 rounds.

    DATABASE_URL=sqlite:////tmp/q.sqlite3 .venv/bin/python manage.py migrate -v0
    DATABASE_URL=sqlite:////tmp/q.sqlite3 REDIS_URL=redis://127.0.0.1:6379/14 \\
        PYTHONPATH=. .venv/bin/python bench/quota_store.py 2000

It also runs on a tree without quota leases (before issue 11 item 5), for a before/after comparison.
Counters go to user 1's keys: use a scratch database and Redis database.
"""

import asyncio
import os
import secrets
import sys
import time


def setup():
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ollamaweb.settings")
    django.setup()


def member_factory():
    try:
        from ollamaweb.quotas.leases import new_member
    except ImportError:  # before leases
        return None, lambda: secrets.token_hex(8)
    return True, new_member


async def measure(store, count: int):
    from django.db import transaction
    from django.utils import timezone

    from ollamaweb.core.db import run_in_thread
    from ollamaweb.quotas import stores
    from ollamaweb.quotas.checks import plan_checks
    from ollamaweb.quotas.counters import TOKENS, Scope
    from ollamaweb.quotas.policy import ScopeLimits

    leases, new_member = member_factory()
    limits = ScopeLimits(Scope("u", 1), tokens_per_day=10**12, max_concurrent=10**6)

    def settle_in_transaction(settlements):
        with transaction.atomic():
            store.settle_in_transaction(settlements)

    best = [9.0, 9.0, 9.0]
    for _ in range(3):
        admitted = []
        t0 = time.process_time()
        for _ in range(count):
            checks = plan_checks([limits], timezone.localtime(), 25, 0, 86400)
            member = new_member()
            await store.reserve(checks, member)
            admitted.append((checks, member))
        t1 = time.process_time()
        for checks, member in admitted:
            await store.release(checks, member)
        t2 = time.process_time()
        for start in range(0, count, 200):
            items = [
                (member, {c.counter: (c.cost, 20) for c in checks if c.kind == TOKENS})
                for checks, member in admitted[start : start + 200]
            ]
            settlements = items if leases else stores.merge_deltas(deltas for _, deltas in items)
            if store.name == "database":
                await run_in_thread(settle_in_transaction, settlements)
            else:
                await store.settle(settlements)
        t3 = time.process_time()
        best = [min(b, x / count) for b, x in zip(best, (t1 - t0, t2 - t1, t3 - t2))]
    print(
        f"{store.name} ({'leases' if leases else 'no leases'}): reserve {best[0] * 1e3:.3f} ms, "
        f"release {best[1] * 1e3:.3f} ms, settle {best[2] * 1e3:.3f} ms CPU per request (best of 3, {count} each)"
    )


def main():
    setup()
    from ollamaweb.quotas.stores import DatabaseStore, RedisStore

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    asyncio.run(measure(DatabaseStore(), count))
    if os.environ.get("REDIS_URL"):
        asyncio.run(measure(RedisStore(os.environ["REDIS_URL"]), count))


if __name__ == "__main__":
    main()
