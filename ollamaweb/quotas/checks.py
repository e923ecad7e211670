"""Turning limits into counter checks for one request (pure: no I/O)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from .counters import CONCURRENT, DAY, GPU, MONTH, REQUESTS, TOKENS, CounterKey
from .policy import ScopeLimits


@dataclass(frozen=True, slots=True)
class Check:
    key: CounterKey
    limit: int
    cost: int
    reset_at: float  # unix time the period ends (for CONCURRENT: when a lease would expire)
    ttl: int  # seconds the counter must outlive its last update
    counter: str = ""  # the key's string form, as the stores keep it

    def __post_init__(self):
        object.__setattr__(self, "counter", str(self.key))

    @property
    def kind(self) -> str:
        return self.key.kind


def next_month(day: datetime) -> datetime:
    first = day.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (first + timedelta(days=32)).replace(day=1)


def plan_checks(scopes: list[ScopeLimits], now: datetime, tokens: int, gpu_ms: int, lease_seconds: int) -> list[Check]:
    """Checks for a request that may cost `tokens` and `gpu_ms` milliseconds of GPU time, at local
    time `now` (aware, in the quota time zone)."""
    day_end = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    month_end = next_month(now)
    minute_end = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    checks = []
    for s in scopes:
        if s.tokens_per_day is not None:
            key = CounterKey(s.scope, TOKENS, DAY, f"{now:%Y-%m-%d}")
            checks.append(Check(key, s.tokens_per_day, tokens, day_end.timestamp(), 2 * 86400))
        if s.tokens_per_month is not None:
            key = CounterKey(s.scope, TOKENS, MONTH, f"{now:%Y-%m}")
            checks.append(Check(key, s.tokens_per_month, tokens, month_end.timestamp(), 32 * 86400))
        if s.gpu_seconds_per_day is not None:
            key = CounterKey(s.scope, GPU, DAY, f"{now:%Y-%m-%d}")
            checks.append(Check(key, s.gpu_seconds_per_day * 1000, gpu_ms, day_end.timestamp(), 2 * 86400))
        if s.gpu_seconds_per_month is not None:
            key = CounterKey(s.scope, GPU, MONTH, f"{now:%Y-%m}")
            checks.append(Check(key, s.gpu_seconds_per_month * 1000, gpu_ms, month_end.timestamp(), 32 * 86400))
        if s.requests_per_minute is not None:
            key = CounterKey(s.scope, REQUESTS, "", f"{now:%Y%m%d%H%M}")
            checks.append(Check(key, s.requests_per_minute, 1, minute_end.timestamp(), 120))
        if s.max_concurrent is not None:
            key = CounterKey(s.scope, CONCURRENT)
            checks.append(Check(key, s.max_concurrent, 1, now.timestamp() + lease_seconds, lease_seconds))
    return sorted(checks, key=lambda check: check.counter)


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
