"""The request log's indexes: every owner column leads an index, and none has a second one of its own."""

import pytest
from django.db import connection

from ollamaweb.usage.models import RequestLog

pytestmark = pytest.mark.stores  # runs again on PostgreSQL: the migration drops the indexes by name

OWNER_COLUMNS = ("user_id", "api_key_id", "team_id")


def log_indexes() -> dict[str, list[str]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, RequestLog._meta.db_table)
    return {name: c["columns"] for name, c in constraints.items() if c["index"] and not c["primary_key"]}


@pytest.mark.django_db
def test_each_owner_column_leads_an_index_with_created_at():
    """Lookups by user, key or team (the explorer, SET NULL when one is deleted) stay indexed."""
    leading = {tuple(columns[:2]) for columns in log_indexes().values()}
    for column in OWNER_COLUMNS:
        assert (column, "created_at") in leading


@pytest.mark.django_db
def test_no_owner_column_has_an_index_of_its_own():
    """A single-column index beside (column, created_at) only cost every written row an insertion."""
    alone = [columns[0] for columns in log_indexes().values() if len(columns) == 1]
    assert not set(alone) & set(OWNER_COLUMNS), alone
