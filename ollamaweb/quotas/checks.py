"""Turning limits into counter checks for one request (pure: no I/O)."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from .counters import CONCURRENT, DAY, GPU, MONTH, REQUESTS, TOKENS, CounterKey
from .policy import ScopeLimits


@dataclass(slots=True)  # not frozen: a request builds several, and frozen fields are slow to set
class Check:
    key: CounterKey
    limit: int
    cost: int
    reset_at: float  # unix time the period ends (for CONCURRENT: when a lease would expire)
    ttl: int  # seconds the counter must outlive its last update
    counter: str = ""  # the key's string form, as the stores keep it

    def __post_init__(self):
        if not self.counter:
            self.counter = str(self.key)

    @property
    def kind(self) -> str:
        return self.key.kind


# Counters are 64-bit integers in every store: a GPU limit in seconds, counted in milliseconds,
# is capped there (a limit of 10^16 seconds means "unlimited" anyway).
COUNTER_MAX = 2**62


def _milliseconds(seconds: int) -> int:
    return min(seconds * 1000, COUNTER_MAX)


def next_month(day: datetime) -> datetime:
    first = day.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (first + timedelta(days=32)).replace(day=1)


def plan_checks(scopes, now: datetime, tokens: int, gpu_ms: int, lease_seconds: int) -> list[Check]:
    """Checks for a request that may cost `tokens` and `gpu_ms` milliseconds of GPU time, at local
    time `now` (aware, in the quota time zone)."""
    costs = {TOKENS: tokens, GPU: gpu_ms, REQUESTS: 1, CONCURRENT: 1}
    slot_ends = now.timestamp() + lease_seconds
    return [
        Check(key, limit, costs[key.kind], slot_ends if reset_at is None else reset_at, ttl or lease_seconds, counter)
        for key, limit, reset_at, ttl, counter in _planned(tuple(scopes), now.replace(second=0, microsecond=0))
    ]


@lru_cache(maxsize=256)
def _planned(scopes: tuple[ScopeLimits, ...], minute: datetime) -> tuple[tuple, ...]:
    """(key, limit, reset_at, ttl, counter) of each check, in counter order, for requests made in
    this minute (concurrency slots: reset_at and ttl None, they depend on the request's time).
    Every counter and period end only depends on the minute, so this is worked out once a minute."""
    day_end = (minute + timedelta(days=1)).replace(hour=0, minute=0).timestamp()
    month_end = next_month(minute).timestamp()
    minute_end = (minute + timedelta(minutes=1)).timestamp()
    day, month = f"{minute:%Y-%m-%d}", f"{minute:%Y-%m}"
    planned = []
    for s in scopes:
        if s.tokens_per_day is not None:
            planned.append((CounterKey(s.scope, TOKENS, DAY, day), s.tokens_per_day, day_end, 2 * 86400))
        if s.tokens_per_month is not None:
            planned.append((CounterKey(s.scope, TOKENS, MONTH, month), s.tokens_per_month, month_end, 32 * 86400))
        if s.gpu_seconds_per_day is not None:
            planned.append(
                (CounterKey(s.scope, GPU, DAY, day), _milliseconds(s.gpu_seconds_per_day), day_end, 2 * 86400)
            )
        if s.gpu_seconds_per_month is not None:
            key = CounterKey(s.scope, GPU, MONTH, month)
            planned.append((key, _milliseconds(s.gpu_seconds_per_month), month_end, 32 * 86400))
        if s.requests_per_minute is not None:
            planned.append(
                (CounterKey(s.scope, REQUESTS, "", f"{minute:%Y%m%d%H%M}"), s.requests_per_minute, minute_end, 120)
            )
        if s.max_concurrent is not None:
            planned.append((CounterKey(s.scope, CONCURRENT), s.max_concurrent, None, None))
    return tuple(sorted(((*entry, str(entry[0])) for entry in planned), key=lambda entry: entry[-1]))


def duration(seconds: float) -> str:
    """OpenAI's x-ratelimit-reset format: `1s`, `6m0s`, `1h2m3s`."""
    seconds = max(0, int(seconds + 0.999))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
