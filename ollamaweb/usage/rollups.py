"""Maintaining UsageRollup rows as request records are written (never by scanning the log)."""

from collections import defaultdict

from django.db import connection
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
    """Add {(day, user_id, team_id, key_prefix, model): (requests, errors, prompt, completion, gpu_ms)}.

    One upsert per rollup (INSERT ... ON CONFLICT DO UPDATE against the partial unique index of
    its kind: with or without a team), in plain SQL: the ORM's create-then-update cost more than
    the request-log rows themselves (bench/README.md).
    """
    if not totals:
        return
    day_field = UsageRollup._meta.get_field("day")
    with_team, without_team = [], []
    for (day, user_id, team_id, key_prefix, model), amounts in totals.items():
        row = [day_field.get_db_prep_value(day, connection), user_id, team_id, key_prefix, model, *amounts]
        (without_team if team_id is None else with_team).append(row)
    with connection.cursor() as cursor:
        if without_team:
            cursor.executemany(_upsert("(day, user_id, key_prefix, model) WHERE team_id IS NULL"), without_team)
        if with_team:
            cursor.executemany(
                _upsert("(day, user_id, team_id, key_prefix, model) WHERE team_id IS NOT NULL"), with_team
            )


def _upsert(conflict: str) -> str:
    table = UsageRollup._meta.db_table
    columns = ("day", "user_id", "team_id", "key_prefix", "model", *FIELDS)
    added = ", ".join(f"{name} = {table}.{name} + excluded.{name}" for name in FIELDS)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "
        f"ON CONFLICT {conflict} DO UPDATE SET {added}"
    )
