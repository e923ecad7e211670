"""Maintaining UsageRollup rows as request records are written (never by scanning the log)."""

from collections import defaultdict

from django.db.models import F
from django.utils import timezone

from .models import UsageRollup


def add_to_rollups(records):
    """Add a batch of finished records to their (day, user, key, model) rollups; inside a transaction."""
    totals = defaultdict(lambda: [0, 0, 0, 0])
    for record in records:
        if record.user_id is None:
            continue
        day = timezone.localdate(record.created_at, timezone.get_default_timezone())  # the quota calendar
        total = totals[(day, record.user_id, record.key_prefix, record.requested_model[:200])]
        total[0] += 1
        total[1] += record.status >= 400
        total[2] += record.prompt_tokens
        total[3] += record.completion_tokens
    add_totals(totals)


def add_totals(totals: dict):
    """Add {(day, user_id, key_prefix, model): (requests, errors, prompt, completion)} to the rollups."""
    if not totals:
        return
    UsageRollup.objects.bulk_create(
        [UsageRollup(day=d, user_id=u, key_prefix=k, model=m) for d, u, k, m in totals], ignore_conflicts=True
    )
    for (day, user_id, key_prefix, model), (requests, errors, prompt, completion) in totals.items():
        UsageRollup.objects.filter(day=day, user_id=user_id, key_prefix=key_prefix, model=model).update(
            requests=F("requests") + requests,
            errors=F("errors") + errors,
            prompt_tokens=F("prompt_tokens") + prompt,
            completion_tokens=F("completion_tokens") + completion,
        )
