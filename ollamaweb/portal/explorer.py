"""The staff's request explorer: filtered, keyset-paged reads of the request log.

Every filter is turned into an indexed condition before the log is read:
- partial user, team and key-name searches (a leading `=` asks for the exact name) are looked up in
  the (small) user, team and key tables first and become `user_id IN (...)` / `team_id IN (...)` /
  `api_key_id IN (...)`; the team is the one each request was charged to (RequestLog.team), not
  the user's teams of today;
- a partial model search is matched against the model names of the rollups (one row per day,
  user, key and model, cached for a minute) and becomes `requested_model IN (...)`;
- backend, endpoint, status and the time range are plain comparisons on indexed columns (error
  classes on the partial index of errors);
- pages follow (created_at, id) cursors (no OFFSET) and are read in growing time windows under a
  time budget: a search for rare matches stops, says how far back it got, and its link continues it;
- the count of matches stops at COUNT_LIMIT
  ("more than 1,000") or after COUNT_BUDGET_MS (sparse matches: "more than" the rows shown): an
  exact COUNT over millions of rows would read all of them.
"""

import time as clock
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from ollamaweb.core.budget import OverBudget, time_budget
from ollamaweb.core.names import canonical
from ollamaweb.keys.models import ApiKey
from ollamaweb.teams.models import Team
from ollamaweb.usage.models import RequestLog, UsageRollup

from .stats import _cursor, _parse_cursor

PAGE_SIZE = 50
COUNT_LIMIT = 1000  # matches are counted up to this; beyond, the page says "more than"
COUNT_BUDGET_MS = 50  # a count that takes longer is dropped: the page says "more than" what it shows
PAGE_BUDGET_MS = 100  # a page's search stops after this (beyond its first window) and says how far it got
FIRST_WINDOW = timedelta(hours=1)  # pages are read in time windows, this one first,
WINDOW_GROWTH = 8  # then each one this many times longer;
WINDOW_PAGES = 4  # on a sparse log the first window is longer: as long as the log takes to gather this many pages
MATCH_LIMIT = 500  # at most this many users, keys or model names for one partial search
SPLIT_LIMIT = 40  # an IN list up to this long is read as one index-ordered query per value
MODEL_NAMES_CACHE = "ollamaweb:explorer:models"
RANGES = {
    "15m": ("last 15 minutes", timedelta(minutes=15)),
    "1h": ("last hour", timedelta(hours=1)),
    "24h": ("last 24 hours", timedelta(days=1)),
    "7d": ("last 7 days", timedelta(days=7)),
    "30d": ("last 30 days", timedelta(days=30)),
    "today": ("today", None),
}
STATUSES = {"2xx": "succeeded (2xx)", "4xx": "client errors (4xx)", "5xx": "server errors (5xx)", "error": "any error"}
ENDPOINTS = (
    "chat.completions", "completions", "embeddings", "models", "models.retrieve",
    "responses", "responses.retrieve", "responses.delete", "responses.input_items", "unknown",
)  # fmt: skip
COLUMNS = (
    "request_id", "total_duration_ms", "created_at", "finished_at", "user", "team", "api_key", "key_prefix", "endpoint", "method", "requested_model",
    "resolved_model", "backend", "status", "error", "stream", "prompt_tokens", "completion_tokens", "usage_source",
    "ttft_ms", "latency_ms", "client_user",
)  # fmt: skip


@dataclass
class Filters:
    request_id: str = ""
    user: str = ""
    team: str = ""
    key: str = ""
    model: str = ""
    backend: str = ""
    endpoint: str = ""
    status: str = ""
    range: str = ""
    since: datetime | None = None
    until: datetime | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return any((self.request_id, self.user, self.team, self.key, self.model, self.backend, self.endpoint, self.status, self.range,
                    self.since, self.until))  # fmt: skip

    def query(self) -> dict:
        """The filters as GET parameters (for paging links)."""
        values = {
            "request_id": self.request_id,
            "user": self.user,
            "team": self.team,
            "key": self.key,
            "model": self.model,
            "backend": self.backend,
            "endpoint": self.endpoint,
            "status": self.status,
            "range": self.range,
            "since": local_input(self.since) if self.since and not self.range else "",
            "until": local_input(self.until) if self.until and not self.range else "",
        }
        return {name: value for name, value in values.items() if value}


def local_input(moment: datetime) -> str:
    """A datetime as the value of an <input type="datetime-local"> in the server's time zone."""
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def parse_local(value: str) -> datetime | None:
    """`2026-12-03T14:05` (or a date) in the server's time zone → an aware datetime."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def parse_filters(params, now: datetime | None = None) -> Filters:
    now = now or timezone.now()
    filters = Filters(
        request_id=params.get("request_id", "").strip()[:40],
        user=params.get("user", "").strip()[:150],
        team=params.get("team", "").strip()[:100],
        key=params.get("key", "").strip()[:100],
        model=params.get("model", "").strip()[:200],
        backend=params.get("backend", "").strip()[:100],
        endpoint=params.get("endpoint", "").strip()[:64],
        status=params.get("status", "").strip()[:8],
    )
    if filters.status and filters.status not in STATUSES and not filters.status.isdigit():
        filters.errors.append(f"Unknown status filter {filters.status!r}: use 2xx, 4xx, 5xx, error or a number.")
        filters.status = ""
    chosen = params.get("range", "").strip()
    if chosen in RANGES:
        filters.range = chosen
        span = RANGES[chosen][1]
        if span is None:
            filters.since = timezone.make_aware(datetime.combine(timezone.localdate(now), time.min))
        else:
            filters.since = now - span
    else:
        for name in ("since", "until"):
            raw = params.get(name, "")
            moment = parse_local(raw)
            if raw and moment is None:
                filters.errors.append(f"Could not read the time {raw!r}.")
            setattr(filters, name, moment)
    return filters


def model_names() -> list[str]:
    """Every model name in the rollups (one row per day, user, key and model), cached for a minute.

    The rollups of a big log have millions of rows and a few dozen names: a DISTINCT would read
    them all, so the query hops along the index on `model` from one name to the next instead.
    """
    names = cache.get(MODEL_NAMES_CACHE)
    if names is None:
        table = connection.ops.quote_name(UsageRollup._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH RECURSIVE names(model) AS (SELECT MIN(model) FROM {table} UNION ALL"
                f" SELECT (SELECT MIN(model) FROM {table} WHERE model > names.model) FROM names"
                " WHERE names.model IS NOT NULL) SELECT model FROM names WHERE model IS NOT NULL"
            )
            names = [name for (name,) in cursor.fetchall()]
        cache.set(MODEL_NAMES_CACHE, names, 60)
    return names


def matching_models(text: str) -> list[str]:
    if text.startswith("="):
        return sorted({text[1:], canonical(text[1:])})
    wanted = text.lower()
    found = [name for name in model_names() if wanted in name.lower()][:MATCH_LIMIT]
    return sorted(found) if found else sorted({text, canonical(text)})


def text_match(field: str, text: str) -> dict:
    """`=alice` matches exactly, `ali` anywhere (case-insensitive)."""
    return {field: text[1:]} if text.startswith("=") else {f"{field}__icontains": text}


def filtered(filters: Filters) -> list:
    """The RequestLog querysets whose union is the filters' result ([] when nothing can match).

    A filter that matched several users, keys or models would make the database gather every row
    of all of them and sort them (an IN list cannot walk the (column, created_at) index in order).
    So the shortest such list (up to SPLIT_LIMIT values) is split: one queryset per value, each read
    in index order with its LIMIT, and explore() merges their pages.
    """
    rows = RequestLog.objects.all()
    if filters.request_id:  # one request (indexed): the x-request-id a client reports
        rows = rows.filter(request_id=filters.request_id)
    lists = []  # (field, values) of the IN filters
    if filters.user:
        users = list(
            get_user_model()
            .objects.filter(**text_match("username", filters.user))
            .values_list("pk", flat=True)[:MATCH_LIMIT]
        )
        lists.append(("user_id", users))
    if filters.team:
        teams = Team.objects.filter(**text_match("name", filters.team)).values_list("pk", flat=True)[:MATCH_LIMIT]
        lists.append(("team_id", list(teams)))
    if filters.key:
        if filters.key.startswith("sk-"):
            keys = ApiKey.objects.filter(prefix__startswith=filters.key[:12])
        else:
            keys = ApiKey.objects.filter(**text_match("name", filters.key))
        lists.append(("api_key_id", list(keys.values_list("pk", flat=True)[:MATCH_LIMIT])))
    if filters.model:
        lists.append(("requested_model", matching_models(filters.model)))
    if any(not values for _, values in lists):
        return []
    if filters.backend:
        rows = rows.filter(backend=filters.backend)
    if filters.endpoint:
        rows = rows.filter(endpoint=filters.endpoint)
    if filters.status == "2xx":
        rows = rows.filter(status__lt=400)
    elif filters.status in ("4xx", "5xx", "error"):
        # `status >= 400` is spelled out for every error class: it is the condition of the partial
        # index of errors in time order, which a database uses only when the query states it.
        rows = rows.filter(status__gte=400)
        if filters.status == "4xx":
            rows = rows.filter(status__lt=500)
        elif filters.status == "5xx":
            rows = rows.filter(status__gte=500)
    elif filters.status:
        rows = rows.filter(status=int(filters.status))
    if filters.since:
        rows = rows.filter(created_at__gte=filters.since)
    if filters.until:
        rows = rows.filter(created_at__lt=filters.until)
    lists.sort(key=lambda item: len(item[1]))
    for column, values in lists[1:]:
        rows = rows.filter(**{f"{column}__in": values})
    if not lists:
        return [rows]
    column, values = lists[0]
    if len(values) > SPLIT_LIMIT:
        return [rows.filter(**{f"{column}__in": values})]
    return [rows.filter(**{column: value}) for value in values]


@dataclass
class ExplorerPage:
    rows: list[RequestLog]
    older: str | None
    newer: str | None
    is_first: bool
    matches: int = 0  # requests matching the filters, counted up to COUNT_LIMIT (or the rows shown)
    more: bool = False  # more than `matches` match
    searched_to: datetime | None = None  # the search stopped here (time budget); the links continue it


def count_matches(parts: list, limit: int, budget_ms: int) -> tuple[int, bool] | None:
    """(matches, more than `limit`), or None when counting took longer than `budget_ms`.

    Each part is counted with a LIMIT (at most limit + 1 rows read); when matches are sparse the
    database still reads every row it rejects on the way, hence the time budget.
    """
    total = 0
    try:
        with time_budget(budget_ms):
            for part in parts:  # the parts are disjoint (one value each)
                total += part.order_by()[: limit + 1 - total].count()
                if total > limit:
                    return limit, True
    except OverBudget:
        return None
    return total, False


def _page(parts: list, size: int, newest_first: bool) -> list[RequestLog]:
    """The first `size` rows of the union of `parts` in (created_at, id) order, one LIMIT query each."""
    order = ("-created_at", "-pk") if newest_first else ("created_at", "pk")
    found = [row for part in parts for row in part.order_by(*order)[:size]]
    if len(parts) > 1:
        found.sort(key=lambda row: (row.created_at, row.pk), reverse=newest_first)
    return found[:size]


def _first_window(oldest: datetime, now: datetime, size: int) -> timedelta:
    """FIRST_WINDOW, or longer on a sparse log: the time in which the whole log gathers WINDOW_PAGES
    pages of rows on average (its ids count its rows closely enough, from two index reads)."""
    newest_pk = RequestLog.objects.order_by("-pk").values_list("pk", flat=True).first()
    oldest_pk = RequestLog.objects.order_by("pk").values_list("pk", flat=True).first()
    rows = max(1, (newest_pk or 0) - (oldest_pk or 0) + 1)
    return max(FIRST_WINDOW, (now - oldest) * min(1.0, WINDOW_PAGES * size / rows))


def _walk(parts: list, size: int, newest_first: bool, origin: datetime, end: datetime, budget_ms: int,
          first_window: timedelta):  # fmt: skip
    """The first `size` rows of `parts` from `origin` towards `end`, read in time windows.

    Filters that match few rows of the index they walk (a model on a backend that never served it)
    would make one query read that index's whole range. So the log is read window by window, the
    first `first_window` long and each next one WINDOW_GROWTH times longer, until the page is full,
    `end` is passed, or `budget_ms` is spent. Returns (rows, None), or (rows, edge) when the budget
    stopped the search at `edge` (rows beyond it not read yet). The first window always runs.
    """
    deadline = clock.monotonic() + budget_ms / 1000
    found, edge, span = [], origin, first_window
    while True:
        bound = edge - span if newest_first else edge + span
        last = bound <= end if newest_first else bound >= end
        window = []
        for part in parts:
            if edge != origin:  # the first window is bounded by the cursor (in `parts`) alone
                part = part.filter(created_at__lt=edge) if newest_first else part.filter(created_at__gte=edge)
            if not last:
                part = part.filter(created_at__gte=bound) if newest_first else part.filter(created_at__lt=bound)
            window.append(part)
        left_ms = int((deadline - clock.monotonic()) * 1000)
        if edge != origin and left_ms <= 0:
            return found, edge
        try:
            with time_budget(left_ms) if edge != origin else nullcontext():
                found += _page(window, size - len(found), newest_first)
        except OverBudget:
            return found, edge
        if len(found) >= size or last:
            return found, None
        edge, span = bound, span * WINDOW_GROWTH


def _micros(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def explore(filters: Filters, before: str | None = None, after: str | None = None, size: int = PAGE_SIZE):
    """One page of matching requests, newest first, by (created_at, id) cursors."""
    parts = filtered(filters)
    if not parts:
        return ExplorerPage([], None, None, True)
    times = RequestLog.objects.values_list("created_at", flat=True)
    oldest, newest = times.order_by("created_at").first(), times.order_by("-created_at").first()
    if oldest is None:
        return ExplorerPage([], None, None, True)
    now = timezone.now()
    first_window = _first_window(oldest, now, size)
    counted = count_matches(parts, COUNT_LIMIT, COUNT_BUDGET_MS)
    parts = [
        part.select_related("user", "team", "api_key").only(*COLUMNS, "user__username", "team__name", "api_key__name")
        for part in parts
    ]
    after_cursor = _parse_cursor(after) if after and not before else None
    before_cursor = _parse_cursor(before)
    if after_cursor:
        at, pk = after_cursor
        parts = [part.filter(created_at__gte=at).exclude(created_at=at, pk__lte=pk) for part in parts]
        found, stopped = _walk(parts, size + 1, False, at, filters.until or now, PAGE_BUDGET_MS, first_window)
        has_newer = len(found) > size or stopped is not None
        found = found[:size][::-1]
        if stopped is not None and len(found) < size:  # rows from `stopped` on are not read yet
            newer = f"{_micros(stopped) - 1}.{2**62}"
        else:
            newer = _cursor(found[0]) if found and has_newer else None
        older = _cursor(found[-1]) if found else f"{_micros(at)}.{pk + 1}"
        return ExplorerPage(
            found, older, newer, not has_newer, *(counted or (len(found), True)),
            stopped if len(found) < size else None,
        )  # fmt: skip
    origin = min(filters.until or now, now, newest)  # the first window starts at the newest row (a quiet log)
    if before_cursor:
        at, pk = before_cursor
        origin = at
        parts = [part.filter(created_at__lte=at).exclude(created_at=at, pk__gte=pk) for part in parts]
    found, stopped = _walk(
        parts, size + 1, True, origin, max(filters.since or oldest, oldest), PAGE_BUDGET_MS, first_window
    )
    has_older = len(found) > size
    found = found[:size]
    if stopped is not None and not has_older:  # rows before `stopped` are not read yet
        older = f"{_micros(stopped)}.0"
    else:
        older = _cursor(found[-1]) if found and has_older else None
    return ExplorerPage(
        found,
        older,
        _cursor(found[0]) if found and before_cursor else None,
        before_cursor is None,
        *(counted or (len(found), has_older or stopped is not None or before_cursor is not None)),
        stopped if not has_older else None,
    )


def backend_names() -> list[str]:
    from ollamaweb.backends.models import Backend

    return list(Backend.objects.order_by("name").values_list("name", flat=True))
