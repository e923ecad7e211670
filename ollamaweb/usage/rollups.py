"""Maintaining UsageRollup rows as request records are written (never by scanning the log)."""

from collections import defaultdict

from django.db.models import F
from django.utils import timezone

from .models import UsageRollup

# A rollup's identity: (day, user_id, team_id or None, key_prefix, model).
FIELDS = ("requests", "errors", "prompt_tokens", "completion_tokens", "gpu_ms")


def add_to_rollups(records):
    """Add a batch of finished records to their (day, user, team, key, model) rollups; inside a transaction."""
    totals = defaultdict(lambda: [0] * len(FIELDS))
    for record in records:
        if record.user_id is None:
            continue
        day = timezone.localdate(record.created_at, timezone.get_default_timezone())  # the quota calendar
        total = totals[(day, record.user_id, record.team_id, record.key_prefix, record.requested_model[:200])]
        for index, value in enumerate(
            (1, record.status >= 400, record.prompt_tokens, record.completion_tokens, record.gpu_ms)
        ):
            total[index] += value
    add_totals(totals)


def add_totals(totals: dict):
    """Add {(day, user_id, team_id, key_prefix, model): (requests, errors, prompt, completion, gpu_ms)}."""
    if not totals:
        return
    UsageRollup.objects.bulk_create(
        [UsageRollup(day=d, user_id=u, team_id=t, key_prefix=k, model=m) for d, u, t, k, m in totals],
        ignore_conflicts=True,
    )
    for (day, user_id, team_id, key_prefix, model), amounts in totals.items():
        UsageRollup.objects.filter(
            day=day, user_id=user_id, team_id=team_id, key_prefix=key_prefix, model=model
        ).update(**{name: F(name) + amount for name, amount in zip(FIELDS, amounts)})
