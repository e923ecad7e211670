"""Usage summaries per user and model."""

from datetime import date, datetime, time

from django.db.models import Count, Q, Sum
from django.utils import timezone

from .models import RequestLog

COLUMNS = ("user", "model", "requests", "prompt_tokens", "completion_tokens", "total_tokens", "errors")


def usage_by_user_and_model(username: str | None = None, since: date | None = None) -> list[dict]:
    logs = RequestLog.objects.all()
    if username:
        logs = logs.filter(user__username=username)
    if since:
        logs = logs.filter(created_at__gte=timezone.make_aware(datetime.combine(since, time.min)))
    rows = (
        logs.values("user__username", "requested_model")
        .annotate(
            requests=Count("id"),
            prompt=Sum("prompt_tokens"),
            completion=Sum("completion_tokens"),
            errors=Count("id", filter=Q(status__gte=400)),
        )
        .order_by("user__username", "requested_model")
    )
    return [
        {
            "user": row["user__username"] or "",
            "model": row["requested_model"],
            "requests": row["requests"],
            "prompt_tokens": row["prompt"] or 0,
            "completion_tokens": row["completion"] or 0,
            "total_tokens": (row["prompt"] or 0) + (row["completion"] or 0),
            "errors": row["errors"],
        }
        for row in rows
    ]
