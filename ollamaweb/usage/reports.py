"""Usage summaries, read from the rollups (never by scanning the request log)."""

from datetime import date

from django.db.models import Sum

from .models import UsageRollup

COLUMNS = ("user", "model", "requests", "prompt_tokens", "completion_tokens", "total_tokens", "errors")


def usage_by_user_and_model(username: str | None = None, since: date | None = None) -> list[dict]:
    rollups = UsageRollup.objects.all()
    if username:
        rollups = rollups.filter(user__username=username)
    if since:
        rollups = rollups.filter(day__gte=since)
    rows = (
        rollups.values("user__username", "model")
        .annotate(
            requests_sum=Sum("requests"),
            prompt=Sum("prompt_tokens"),
            completion=Sum("completion_tokens"),
            errors_sum=Sum("errors"),
        )
        .order_by("user__username", "model")
    )
    return [
        {
            "user": row["user__username"],
            "model": row["model"],
            "requests": row["requests_sum"],
            "prompt_tokens": row["prompt"],
            "completion_tokens": row["completion"],
            "total_tokens": row["prompt"] + row["completion"],
            "errors": row["errors_sum"],
        }
        for row in rows
    ]


def totals_for_user(user, since: date) -> dict:
    """Requests and tokens of a user since a day (inclusive)."""
    totals = UsageRollup.objects.filter(user=user, day__gte=since).aggregate(
        requests=Sum("requests"), prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens")
    )
    prompt, completion = totals["prompt"] or 0, totals["completion"] or 0
    return {"requests": totals["requests"] or 0, "tokens": prompt + completion}
