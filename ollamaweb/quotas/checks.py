"""Turning limits into counter checks for one request (pure: no I/O)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from .policy import ScopeLimits

TOKENS, REQUESTS, CONCURRENT = "tokens", "requests", "concurrent"


@dataclass(frozen=True, slots=True)
class Check:
    counter: str  # the shared counter's key, period included: `t:u5:d:2026-11-25`
    kind: str  # TOKENS, REQUESTS or CONCURRENT
    limit: int
    cost: int
    reset_at: float  # unix time the period ends (for CONCURRENT: when a lease would expire)
    ttl: int  # seconds the counter must outlive its last update


def next_month(day: datetime) -> datetime:
    first = day.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (first + timedelta(days=32)).replace(day=1)


def plan_checks(scopes: list[ScopeLimits], now: datetime, tokens: int, lease_seconds: int) -> list[Check]:
    """Checks for a request that may cost `tokens`, at local time `now` (aware, in the quota time zone)."""
    day_end = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    month_end = next_month(now)
    minute_end = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    checks = []
    for s in scopes:
        if s.tokens_per_day is not None:
            checks.append(
                Check(f"t:{s.scope}:d:{now:%Y-%m-%d}", TOKENS, s.tokens_per_day, tokens, day_end.timestamp(), 2 * 86400)
            )
        if s.tokens_per_month is not None:
            checks.append(
                Check(
                    f"t:{s.scope}:m:{now:%Y-%m}", TOKENS, s.tokens_per_month, tokens, month_end.timestamp(), 32 * 86400
                )
            )
        if s.requests_per_minute is not None:
            checks.append(
                Check(f"r:{s.scope}:{now:%Y%m%d%H%M}", REQUESTS, s.requests_per_minute, 1, minute_end.timestamp(), 120)
            )
        if s.max_concurrent is not None:
            checks.append(
                Check(f"c:{s.scope}", CONCURRENT, s.max_concurrent, 1, now.timestamp() + lease_seconds, lease_seconds)
            )
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
