"""A team's usage from the rollups (read only): its team keys, and its members' personal keys.

Until the request log records the team a request was charged to, a member's personal usage is
counted for their current default team (policy.team_for's rule), per day from the rollups.
"""

from datetime import timedelta

from django.db.models import Q, Sum
from django.utils import timezone

from ollamaweb.keys.models import ApiKey
from ollamaweb.usage.models import UsageRollup

from .models import Membership, Team


def _sums(rollups) -> dict:
    totals = rollups.aggregate(
        requests=Sum("requests"), prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens"), errors=Sum("errors")
    )
    prompt, completion = totals["prompt"] or 0, totals["completion"] or 0
    return {"requests": totals["requests"] or 0, "tokens": prompt + completion, "errors": totals["errors"] or 0}


def periods(today=None) -> dict:
    today = today or timezone.localdate()
    return {"today": today, "month": today.replace(day=1), "last_30_days": today - timedelta(days=29)}


def charged_rollups(team: Team):
    """The rollups charged to the team: its keys' usage, and its default members' personal usage."""
    team_prefixes = list(ApiKey.objects.filter(team=team).values_list("prefix", flat=True))
    default_members = list(Membership.objects.filter(team=team, is_default=True).values_list("user_id", flat=True))
    personal = UsageRollup.objects.filter(user_id__in=default_members).exclude(
        key_prefix__in=ApiKey.objects.filter(team__isnull=False).values("prefix")
    )
    return UsageRollup.objects.filter(Q(key_prefix__in=team_prefixes) | Q(pk__in=personal.values("pk")))


def team_usage(team: Team, today=None) -> dict:
    """Totals for today, this month and the last 30 days; per key and per member for this month."""
    spans = periods(today)
    rollups = charged_rollups(team)
    totals = {name: _sums(rollups.filter(day__gte=since)) for name, since in spans.items()}
    month = rollups.filter(day__gte=spans["month"])
    keys = {k.prefix: k for k in ApiKey.objects.filter(team=team)}
    by_key = []
    for prefix, key in keys.items():
        by_key.append({"key": key, **_sums(month.filter(key_prefix=prefix))})
    by_member = []
    for membership in Membership.objects.filter(team=team).select_related("user"):
        if not membership.is_default:
            continue
        personal = month.filter(user=membership.user).exclude(key_prefix__in=list(keys))
        by_member.append({"user": membership.user, **_sums(personal)})
    by_model = [
        {
            "model": row["model"],
            "requests": row["r"] or 0,
            "tokens": (row["p"] or 0) + (row["c"] or 0),
        }
        for row in month.values("model")
        .annotate(r=Sum("requests"), p=Sum("prompt_tokens"), c=Sum("completion_tokens"))
        .order_by("model")
    ]
    return {"totals": totals, "by_key": by_key, "by_member": by_member, "by_model": by_model}


CSV_COLUMNS = (
    "day", "user", "key_prefix", "team_key", "model", "requests", "prompt_tokens", "completion_tokens",
    "total_tokens", "errors",
)  # fmt: skip


def csv_rows(team: Team, since=None):
    """The team's daily usage per user, key and model (one row each), for CSV."""
    team_prefixes = set(ApiKey.objects.filter(team=team).values_list("prefix", flat=True))
    rollups = charged_rollups(team).select_related("user").order_by("day", "user__username", "key_prefix", "model")
    if since:
        rollups = rollups.filter(day__gte=since)
    for r in rollups:
        yield (
            r.day.isoformat(), r.user.get_username(), r.key_prefix, r.key_prefix in team_prefixes, r.model,
            r.requests, r.prompt_tokens, r.completion_tokens, r.prompt_tokens + r.completion_tokens, r.errors,
        )  # fmt: skip


TEAM_COLUMNS = ("team", "model", "requests", "prompt_tokens", "completion_tokens", "total_tokens", "errors")


def usage_by_team(since=None) -> list[dict]:
    """One row per team and model (every team, from the rollups charged to it), for reports and CSV."""
    rows = []
    for team in Team.objects.order_by("name"):
        rollups = charged_rollups(team)
        if since:
            rollups = rollups.filter(day__gte=since)
        sums = (
            rollups.values("model")
            .annotate(r=Sum("requests"), p=Sum("prompt_tokens"), c=Sum("completion_tokens"), e=Sum("errors"))
            .order_by("model")
        )
        for row in sums:
            prompt, completion = row["p"] or 0, row["c"] or 0
            rows.append(
                {
                    "team": team.name,
                    "model": row["model"],
                    "requests": row["r"] or 0,
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                    "errors": row["e"] or 0,
                }
            )
    return rows
