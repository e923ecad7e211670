"""The numbers behind the portal's pages, from the rollups and small indexed queries only.

Aggregates (per day, per model, per user) come from UsageRollup; the request log is read only
through its indexes: a user's rows by (user, created_at) with keyset paging (no OFFSET, no
COUNT), and the staff overview's last hour / last day by created_at.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Substr, TruncHour, TruncMinute
from django.utils import timezone

from ollamaweb.catalog.models import ModelAlias
from ollamaweb.core.names import canonical
from ollamaweb.usage.models import RequestLog, UsageRollup

from .zones import quota_today

PAGE_SIZE = 50
TOP_SERIES = 6


def model_namer():
    """name → how the portal shows it: `mistral` and `mistral:latest` are one model (the canonical
    name); an alias keeps the name clients ask for."""
    aliases = set(ModelAlias.objects.values_list("name", flat=True))

    def name_of(model: str) -> str:
        if not model:
            return "(none)"
        return model if model in aliases else canonical(model)

    return name_of


@dataclass
class DailySeries:
    days: list[date]
    models: list[str]  # series order; the last may be "other"
    tokens: dict[str, list[int]]  # model → value per day
    requests: dict[str, list[int]]
    gpu_ms: dict[str, list[int]]  # GPU time charged, in milliseconds
    totals: dict  # over the whole range: requests, tokens, prompt, completion, errors, gpu_ms


def daily_usage(user, days: int = 30, today: date | None = None) -> DailySeries:
    """Tokens, requests and GPU time per day and model over the last `days` days (from the rollups)."""
    today = today or quota_today()
    start = today - timedelta(days=days - 1)
    name_of = model_namer()
    rows = (
        UsageRollup.objects.filter(user=user, day__gte=start, day__lte=today)
        .values("day", "model")
        .annotate(
            requests_sum=Sum("requests"),
            prompt=Sum("prompt_tokens"),
            completion=Sum("completion_tokens"),
            errors_sum=Sum("errors"),
            gpu=Sum("gpu_ms"),
        )
    )
    per_model_tokens: dict[str, int] = defaultdict(int)
    cells = []
    totals = {"requests": 0, "tokens": 0, "prompt": 0, "completion": 0, "errors": 0, "gpu_ms": 0}
    for row in rows:
        tokens = row["prompt"] + row["completion"]
        model = name_of(row["model"])
        per_model_tokens[model] += tokens or row["requests_sum"]
        cells.append((row["day"], model, tokens, row["requests_sum"], row["gpu"]))
        totals["requests"] += row["requests_sum"]
        totals["tokens"] += tokens
        totals["prompt"] += row["prompt"]
        totals["completion"] += row["completion"]
        totals["errors"] += row["errors_sum"]
        totals["gpu_ms"] += row["gpu"]
    ranked = sorted(per_model_tokens, key=lambda m: (-per_model_tokens[m], m))
    shown = ranked[:TOP_SERIES] if len(ranked) <= TOP_SERIES + 1 else ranked[: TOP_SERIES - 1]
    models = shown + (["other"] if len(ranked) > len(shown) else [])
    day_list = [start + timedelta(days=i) for i in range(days)]
    index = {day: i for i, day in enumerate(day_list)}
    tokens = {m: [0] * days for m in models}
    requests = {m: [0] * days for m in models}
    gpu_ms = {m: [0] * days for m in models}
    for day, model, tok, req, gpu in cells:
        series = model if model in tokens and model != "other" else "other"
        tokens[series][index[day]] += tok
        requests[series][index[day]] += req
        gpu_ms[series][index[day]] += gpu
    return DailySeries(day_list, models, tokens, requests, gpu_ms, totals)


def period_totals(user, since: date) -> dict:
    totals = UsageRollup.objects.filter(user=user, day__gte=since).aggregate(
        requests=Sum("requests"),
        tokens=Sum(F("prompt_tokens") + F("completion_tokens")),
        errors=Sum("errors"),
        gpu_ms=Sum("gpu_ms"),
    )
    return {name: value or 0 for name, value in totals.items()}


# --- A user's requests, newest first, with keyset paging ------------------------------------------


def _cursor(row: RequestLog) -> str:
    return f"{int(row.created_at.timestamp() * 1_000_000)}.{row.pk}"


def _parse_cursor(value: str | None) -> tuple[datetime, int] | None:
    try:
        micros, pk = (value or "").split(".", 1)
        return datetime.fromtimestamp(int(micros) / 1_000_000, tz=UTC), int(pk)
    except (ValueError, OverflowError, OSError):
        return None


@dataclass
class RequestPage:
    rows: list[RequestLog]
    older: str | None  # cursor for the next (older) page
    newer: str | None  # cursor for the previous (newer) page
    is_first: bool


def user_requests(user, before: str | None = None, after: str | None = None, size: int = PAGE_SIZE) -> RequestPage:
    """One page of the user's requests (RequestLog by the (user, created_at) index)."""
    base = (
        RequestLog.objects.filter(user=user)
        .select_related("api_key")
        .only(
            "created_at", "endpoint", "requested_model", "resolved_model", "status", "error", "stream",
            "prompt_tokens", "completion_tokens", "ttft_ms", "latency_ms", "key_prefix", "api_key__name",
        )
    )  # fmt: skip
    after_cursor = _parse_cursor(after) if after and not before else None
    before_cursor = _parse_cursor(before)
    if after_cursor:
        at, pk = after_cursor
        rows = list(
            base.filter(created_at__gte=at).exclude(created_at=at, pk__lte=pk).order_by("created_at", "pk")[: size + 1]
        )
        has_newer = len(rows) > size
        rows = rows[:size][::-1]
        return RequestPage(
            rows, _cursor(rows[-1]) if rows else None, _cursor(rows[0]) if rows and has_newer else None, not has_newer
        )
    query = base
    if before_cursor:
        at, pk = before_cursor
        query = query.filter(created_at__lte=at).exclude(created_at=at, pk__gte=pk)
    rows = list(query.order_by("-created_at", "-pk")[: size + 1])
    has_older = len(rows) > size
    rows = rows[:size]
    return RequestPage(
        rows,
        _cursor(rows[-1]) if rows and has_older else None,
        _cursor(rows[0]) if rows and before_cursor else None,
        before_cursor is None,
    )


def usage_csv_rows(user):
    """The user's rollups, oldest first: one row per day, key and model."""
    return (
        UsageRollup.objects.filter(user=user)
        .order_by("day", "key_prefix", "model")
        .values_list("day", "key_prefix", "model", "requests", "prompt_tokens", "completion_tokens", "errors")
        .iterator(chunk_size=2000)
    )


# --- The staff overview ----------------------------------------------------------------------------


def _bucket(unit: str):
    """An expression naming the UTC minute or hour of created_at, computed natively by the database.

    On SQLite, Trunc() is a Python function called per row (slow on a busy day's rows); datetimes
    are stored there as UTC text, so a prefix of the text is the bucket.
    """
    if connection.vendor == "sqlite":
        return Substr("created_at", 1, 16 if unit == "minute" else 13)
    return (TruncMinute if unit == "minute" else TruncHour)("created_at", tzinfo=UTC)


def _bucket_time(value) -> datetime:
    if isinstance(value, str):
        return datetime.fromisoformat(value + (":00" if len(value) == 13 else "")).replace(tzinfo=UTC)
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


HOUR_CACHE_PREFIX = "ollamaweb:portal:hour:"
HOUR_CACHE_TTL = 26 * 3600
ZERO_HOUR = {"n": 0, "tokens": 0, "errors": 0}


def _hourly(since: datetime, until: datetime) -> dict[datetime, dict]:
    rows = (
        RequestLog.objects.filter(created_at__gte=since, created_at__lte=until)
        .annotate(bucket=_bucket("hour"))
        .values("bucket")
        .annotate(
            n=Count("id"),
            tokens=Sum(F("prompt_tokens") + F("completion_tokens")),
            errors=Count("id", filter=Q(status__gte=400)),
        )
        .order_by()
    )
    return {_bucket_time(row["bucket"]): {k: row[k] or 0 for k in ZERO_HOUR} for row in rows}


def recent_activity(now: datetime | None = None) -> dict:
    """Requests per minute (last hour), tokens per hour (last day), errors; by the created_at index.

    Hours that ended over an hour ago are cached (they no longer change, except for a request
    that started then and is still running), so a page view reads at most the last two hours.
    """
    now = (now or timezone.now()).astimezone(UTC)
    minute_now = now.replace(second=0, microsecond=0)
    hour_now = now.replace(minute=0, second=0, microsecond=0)
    first_minute, first_hour = minute_now - timedelta(minutes=59), hour_now - timedelta(hours=23)
    per_minute = {
        _bucket_time(row["bucket"]): row["n"]
        for row in RequestLog.objects.filter(created_at__gte=first_minute, created_at__lte=now)
        .annotate(bucket=_bucket("minute"))
        .values("bucket")
        .annotate(n=Count("id"))
        .order_by()
    }
    hours = [first_hour + timedelta(hours=i) for i in range(24)]
    closed = [h for h in hours if h < hour_now - timedelta(hours=1)]
    names = {h: f"{HOUR_CACHE_PREFIX}{h:%Y%m%d%H}" for h in closed}
    cached = cache.get_many(list(names.values()))
    per_hour = {h: cached[name] for h, name in names.items() if name in cached}
    missing = [h for h in closed if h not in per_hour]
    fresh = _hourly(missing[0] if missing else hour_now - timedelta(hours=1), now)
    if missing:
        cache.set_many({names[h]: fresh.get(h, ZERO_HOUR) for h in missing}, HOUR_CACHE_TTL)
    per_hour.update({h: row for h, row in fresh.items() if h not in per_hour})
    minutes = [first_minute + timedelta(minutes=i) for i in range(60)]
    requests_per_minute = [per_minute.get(m, 0) for m in minutes]
    hourly = [per_hour.get(h, ZERO_HOUR) for h in hours]
    return {
        "minutes": [timezone.localtime(m) for m in minutes],
        "requests_per_minute": requests_per_minute,
        "last_minute": requests_per_minute[-1],
        "last_hour_requests": sum(requests_per_minute),
        "hours": [timezone.localtime(h) for h in hours],
        "tokens_per_hour": [row["tokens"] for row in hourly],
        "requests_per_hour": [row["n"] for row in hourly],
        "errors_per_hour": [row["errors"] for row in hourly],
        "last_day_requests": sum(row["n"] for row in hourly),
        "last_day_tokens": sum(row["tokens"] for row in hourly),
        "last_day_errors": sum(row["errors"] for row in hourly),
    }


def recent_errors(limit: int = 15, now: datetime | None = None) -> list[RequestLog]:
    now = now or timezone.now()
    return list(
        RequestLog.objects.filter(created_at__gte=now - timedelta(days=1), status__gte=400)
        .select_related("user", "api_key")
        .order_by("-created_at")[:limit]
    )


def unauthenticated_count(since: datetime) -> int:
    """Requests refused before a user was known (401: no key, a wrong or revoked key), by the status index."""
    return RequestLog.objects.filter(status=401, created_at__gte=since, user__isnull=True).count()


def day_totals(day: date) -> dict:
    rollups = UsageRollup.objects.filter(day=day)
    totals = rollups.aggregate(
        requests=Sum("requests"), tokens=Sum(F("prompt_tokens") + F("completion_tokens")), errors=Sum("errors")
    )
    return {**{k: v or 0 for k, v in totals.items()}, "active_users": rollups.values("user").distinct().count()}


def top_usage(since: date, limit: int = 8) -> dict:
    """Top users and models by tokens since a day (from the rollups)."""
    rollups = UsageRollup.objects.filter(day__gte=since)
    tokens = Sum(F("prompt_tokens") + F("completion_tokens"))
    users = list(
        rollups.values("user", "user__username")
        .annotate(tokens=tokens, requests_sum=Sum("requests"), errors_sum=Sum("errors"))
        .order_by("-tokens")[:limit]
    )
    name_of = model_namer()
    by_name: dict[str, dict] = {}
    for row in rollups.values("model").annotate(tokens=tokens, requests_sum=Sum("requests"), errors_sum=Sum("errors")):
        merged = by_name.setdefault(
            name_of(row["model"]), {"model": name_of(row["model"]), "tokens": 0, "requests_sum": 0, "errors_sum": 0}
        )
        for field in ("tokens", "requests_sum", "errors_sum"):
            merged[field] += row[field] or 0
    models = sorted(by_name.values(), key=lambda row: (-row["tokens"], -row["requests_sum"], row["model"]))[:limit]
    totals = rollups.aggregate(requests=Sum("requests"), tokens=tokens, errors=Sum("errors"))
    active_users = rollups.values("user").distinct().count()
    return {
        "users": users,
        "models": models,
        "totals": {k: v or 0 for k, v in totals.items()},
        "active_users": active_users,
    }


def top_gpu_time(since: date, limit: int = 8) -> dict:
    """Top users and teams by GPU time since a day, each with its share of all GPU time (from the rollups)."""
    rollups = UsageRollup.objects.filter(day__gte=since, gpu_ms__gt=0)
    total = rollups.aggregate(gpu=Sum("gpu_ms"))["gpu"] or 0
    amounts = {"gpu": Sum("gpu_ms"), "requests_sum": Sum("requests")}
    users = rollups.values("user", "user__username").annotate(**amounts).order_by("-gpu", "user__username")
    teams = (
        rollups.filter(team__isnull=False)
        .values("team", "team__name")
        .annotate(**amounts)
        .order_by("-gpu", "team__name")
    )
    rows = {"users": list(users[:limit]), "teams": list(teams[:limit])}
    for row in rows["users"] + rows["teams"]:
        row["gpu_seconds"] = row["gpu"] / 1000
        row["share"] = 100 * row["gpu"] / total
    return {**rows, "total_seconds": total / 1000}
