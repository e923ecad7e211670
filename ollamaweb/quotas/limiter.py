"""Admitting a request against its quotas (reserve), and releasing what it held afterwards.

Token and GPU-time reservations are settled to the measured amounts by the request-log writer,
in the same transaction that writes the log row (see ollamaweb/usage/writer.py), so every
request is settled exactly once.
"""

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from ollamaweb.core.tasks import CancelledAfterward

from .calendar import quota_now
from .checks import Check, duration, plan_checks
from .counters import CONCURRENT, GPU, METERED, REQUESTS, TOKENS
from .leases import lease_keeper, new_member
from .policy import Payer, policy_table
from .stores import current_store

logger = logging.getLogger(__name__)
# Redis drops a concurrency slot this old even if nothing released it (a backstop: the leases of
# leases.py give back a crashed process's slots within QUOTA_LEASE_SECONDS).
SLOT_BACKSTOP_SECONDS = 86400


@dataclass
class Admission:
    checks: list[Check]
    member: str
    remaining: dict[str, int]
    store: object

    def headers(self, now: float | None = None) -> dict[str, str]:
        """OpenAI's x-ratelimit-* headers for the tightest request and token limits."""
        now = time.time() if now is None else now
        headers = {}
        for kind, name in ((REQUESTS, "requests"), (TOKENS, "tokens")):
            checks = [check for check in self.checks if check.kind == kind]
            if checks:
                tightest = min(checks, key=lambda check: self.remaining.get(check.counter, check.limit))
                headers[f"x-ratelimit-limit-{name}"] = str(tightest.limit)
                headers[f"x-ratelimit-remaining-{name}"] = str(
                    max(0, self.remaining.get(tightest.counter, tightest.limit))
                )
                headers[f"x-ratelimit-reset-{name}"] = duration(tightest.reset_at - now)
        return headers

    @property
    def holds_slots(self) -> bool:
        return any(check.kind == CONCURRENT for check in self.checks)

    @property
    def caps_output(self) -> bool:
        """Whether a token or GPU-time quota applies, so the output must stay within what was reserved."""
        return any(check.kind in METERED for check in self.checks)

    def settlement(self, tokens: int, gpu_ms: int) -> dict[str, tuple[int, int]]:
        """{metered counter: (reserved to release, amount used)} once the request used `tokens` and `gpu_ms`."""
        used = {TOKENS: tokens, GPU: gpu_ms}
        return {check.counter: (check.cost, used[check.kind]) for check in self.checks if check.kind in METERED}


class LimitExceeded(Exception):
    """A limit refused the request; `kind` is OpenAI's error type for it."""

    def __init__(self, message, kind, retry_after, headers, remaining=None, limit: str = ""):
        super().__init__(message)
        self.message, self.kind, self.retry_after, self.headers = message, kind, retry_after, headers
        self.remaining = remaining  # for a token or GPU-time quota: what was left before this request
        self.limit = limit  # the limit that refused: tokens_per_day, gpu_seconds_per_month, requests_per_minute, ...


class QuotaStoreUnavailable(Exception):
    pass


async def admit(payer: Payer, model: str, tokens: int, gpu_ms: int = 0) -> Admission | None:
    """Reserve `tokens`, `gpu_ms` and a request/concurrency slot in every applicable limit, or raise.

    If the caller is cancelled (its client left) while the store makes the reservation, it is
    still made: CancelledAfterward then carries the Admission, so that the request's settlement
    gives it back (a concurrency slot nobody gives back locks its user out)."""
    scopes = await policy_table.limits_for(payer, model)
    if not scopes:
        return None
    # The quota calendar is the server's zone, whatever zone a (portal) request has activated.
    checks = plan_checks(scopes, quota_now(), tokens, gpu_ms, SLOT_BACKSTOP_SECONDS)
    member = new_member()
    store = current_store()
    lease_keeper.ensure_running()
    try:
        reservation = await store.reserve(checks, member)
    except CancelledAfterward as cancelled:  # the caller left, but what was reserved is its to give back
        if not cancelled.result.admitted:
            raise asyncio.CancelledError from None
        raise CancelledAfterward(Admission(checks, member, cancelled.result.remaining, store)) from None
    except (DatabaseError, OSError, ConnectionError) as exc:
        return _store_failed(exc)
    except Exception as exc:  # redis errors do not share a base class with the above
        if type(exc).__module__.startswith("redis"):
            return _store_failed(exc)
        raise
    admission = Admission(checks, member, reservation.remaining, store)
    if not reservation.admitted:
        raise _limit_exceeded(reservation.failed, admission)
    return admission


def _store_failed(exc: Exception) -> None:
    if settings.QUOTA_FAIL_OPEN:
        logger.warning("quota store unavailable, admitting without limits (QUOTA_FAIL_OPEN): %s", exc)
        return None
    logger.error("quota store unavailable, refusing requests (set OLLAMAWEB_QUOTA_FAIL_OPEN to admit): %s", exc)
    raise QuotaStoreUnavailable(str(exc)) from exc


def _limit_exceeded(check: Check, admission: Admission) -> LimitExceeded:
    """The 429 for the limit that refused: whose limit, which period, what remains and when it resets."""
    now = time.time()
    key = check.key
    retry_after = max(1, int(check.reset_at - now + 0.999)) if check.kind != CONCURRENT else 1
    whose = key.scope.whose
    on_model = f" for model {key.scope.model}" if key.scope.model else ""
    if check.kind in METERED:
        remaining = max(0, admission.remaining.get(check.counter, 0))
        resets = datetime.fromtimestamp(check.reset_at, tz=timezone.get_current_timezone())
        if check.kind == TOKENS:
            quota, amounts = "token", (f"{check.limit} tokens", f"{check.cost} tokens", f"{remaining}")
        else:
            quota, amounts = "GPU-time", (_seconds(check.limit), _seconds(check.cost), _seconds(remaining))
        message = (
            f"You exceeded {whose} {key.period_name} {quota} quota{on_model} ({amounts[0]}): this request may use "
            f"up to {amounts[1]} and {amounts[2]} remain. The quota resets at {resets.isoformat(timespec='minutes')}."
        )
        unit = "tokens" if check.kind == TOKENS else "gpu_seconds"
        limit = f"{unit}_per_day" if key.period_name == "daily" else f"{unit}_per_month"
        return LimitExceeded(message, "insufficient_quota", retry_after, admission.headers(now), remaining, limit=limit)
    elif check.kind == REQUESTS:
        message = f"Rate limit reached: {whose} limit{on_model} is {check.limit} requests per minute. Try again in {retry_after}s."
        kind = "rate_limit_exceeded"
        limit = "requests_per_minute"
    else:
        message = f"Too many concurrent requests: {whose} limit{on_model} is {check.limit} in flight at once."
        kind = "rate_limit_exceeded"
        limit = "max_concurrent"
    return LimitExceeded(message, kind, retry_after, admission.headers(now), limit=limit)


def _seconds(milliseconds: int) -> str:
    return f"{milliseconds / 1000:,.1f} GPU-seconds"


async def release(admission: Admission):
    """Give back the concurrency slots (at once, not with the batched settlement)."""
    if any(check.kind == CONCURRENT for check in admission.checks):
        try:
            await admission.store.release(admission.checks, admission.member)
        except Exception:
            logger.exception(
                "could not release concurrency slots; they come back when this process stops, or %ss after it dies",
                settings.QUOTA_LEASE_SECONDS,
            )
