"""Usage summaries, read from the rollups (never by scanning the request log): per user, per team,
and one team's usage for its page and CSV. A request counts for the team it was charged to when
it ran (RequestLog.team, UsageRollup.team), whatever teams its user is in today."""

from datetime import date, timedelta

from django.db.models import Sum
from django.utils import timezone

from ollamaweb.keys.models import ApiKey

from .models import UsageRollup

AMOUNTS = ("requests", "prompt_tokens", "completion_tokens", "total_tokens", "gpu_seconds", "errors")
COLUMNS = ("user", "team", "model", *AMOUNTS)
TEAM_COLUMNS = ("team", "model", *AMOUNTS)
TEAM_CSV_COLUMNS = ("day", "user", "key_prefix", "team_key", "model", *AMOUNTS)
_SUMS = {
    "r": Sum("requests"), "p": Sum("prompt_tokens"), "c": Sum("completion_tokens"), "g": Sum("gpu_ms"),
    "e": Sum("errors"),
}  # fmt: skip


_NONE = dict.fromkeys(_SUMS)


def _amounts(sums: dict) -> dict:
    """The AMOUNTS from a row of _SUMS (None, for no rows, is 0)."""
    prompt, completion = sums["p"] or 0, sums["c"] or 0
    return {
        "requests": sums["r"] or 0,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "gpu_seconds": round((sums["g"] or 0) / 1000, 3),
        "errors": sums["e"] or 0,
    }


def usage_by_user_and_model(
    username: str | None = None, since: date | None = None, team: str | None = None
) -> list[dict]:
    """One row per user, team charged and model; only one user's or one team's when named."""
    rollups = UsageRollup.objects.all()
    if username:
        rollups = rollups.filter(user__username=username)
    if team:
        rollups = rollups.filter(team__name=team)
    if since:
        rollups = rollups.filter(day__gte=since)
    rows = rollups.values("user__username", "team__name", "model").annotate(**_SUMS)
    return [
        {"user": row["user__username"], "team": row["team__name"] or "", "model": row["model"], **_amounts(row)}
        for row in rows.order_by("user__username", "team__name", "model")
    ]


def usage_by_team(since: date | None = None) -> list[dict]:
    """One row per team and model (requests charged to no team are left out)."""
    rollups = UsageRollup.objects.filter(team__isnull=False)
    if since:
        rollups = rollups.filter(day__gte=since)
    rows = rollups.values("team__name", "model").annotate(**_SUMS).order_by("team__name", "model")
    return [{"team": row["team__name"], "model": row["model"], **_amounts(row)} for row in rows]


def totals_for_user(user, since: date) -> dict:
    """Requests and tokens of a user since a day (inclusive)."""
    totals = _amounts(UsageRollup.objects.filter(user=user, day__gte=since).aggregate(**_SUMS))
    return {"requests": totals["requests"], "tokens": totals["total_tokens"]}


def periods(today=None) -> dict:
    today = today or timezone.localdate()
    return {"today": today, "month": today.replace(day=1), "last_30_days": today - timedelta(days=29)}


def team_usage(team, today=None) -> dict:
    """Totals for today, this month and the last 30 days; per team key, per member and per model this month."""
    spans = periods(today)
    rollups = UsageRollup.objects.filter(team=team)
    totals = {name: _amounts(rollups.filter(day__gte=since).aggregate(**_SUMS)) for name, since in spans.items()}
    month = rollups.filter(day__gte=spans["month"])
    keys = {key.prefix: key for key in ApiKey.objects.filter(team=team)}
    used = month.filter(key_prefix__in=list(keys)).values("key_prefix").annotate(**_SUMS)
    by_prefix = {row["key_prefix"]: row for row in used}
    by_key = [{"key": key, **_amounts(by_prefix.get(prefix, _NONE))} for prefix, key in keys.items()]
    personal = month.exclude(key_prefix__in=list(keys)).values("user_id").annotate(**_SUMS)
    by_member = [{"user_id": row["user_id"], **_amounts(row)} for row in personal]
    models = month.values("model").annotate(**_SUMS).order_by("model")
    by_model = [{"model": row["model"], **_amounts(row)} for row in models]
    return {"totals": totals, "by_key": by_key, "by_member": by_member, "by_model": by_model}


def team_csv_rows(team, since=None):
    """The team's daily usage per user, key and model (one row each), for CSV."""
    team_prefixes = set(ApiKey.objects.filter(team=team).values_list("prefix", flat=True))
    rollups = UsageRollup.objects.filter(team=team).select_related("user")
    if since:
        rollups = rollups.filter(day__gte=since)
    for r in rollups.order_by("day", "user__username", "key_prefix", "model"):
        sums = {"r": r.requests, "p": r.prompt_tokens, "c": r.completion_tokens, "g": r.gpu_ms, "e": r.errors}
        amounts = _amounts(sums)
        yield (r.day.isoformat(), r.user.get_username(), r.key_prefix, r.key_prefix in team_prefixes, r.model,
               *(amounts[name] for name in AMOUNTS))  # fmt: skip
