"""Drop the single-column indexes of RequestLog's user, api_key and team: each is the first column of
a (…, created_at) index that serves the same lookups, and every row written updated all six.

The indexes are dropped by name rather than through AlterField, which on SQLite copies the whole
table once per field (minutes on a log of millions of rows); the names are Django's, the same on
every database. IF EXISTS: a database whose index was renamed keeps it, harmlessly.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

INDEXES = (  # (name, column)
    ("usage_requestlog_user_id_511455c8", "user_id"),
    ("usage_requestlog_api_key_id_ba9e4d47", "api_key_id"),
    ("usage_requestlog_team_id_655345cf", "team_id"),
)


def _without_own_index(name: str, to: str, **options) -> migrations.AlterField:
    """RequestLog's nullable foreign key `name`, as it was but for its own index."""
    field = models.ForeignKey(
        blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, to=to, **options
    )
    return migrations.AlterField(model_name="requestlog", name=name, field=field)


class Migration(migrations.Migration):
    dependencies = [
        ("keys", "0003_apikey_team"),
        ("teams", "0001_initial"),
        ("usage", "0009_explorer_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    [f'DROP INDEX IF EXISTS "{name}"' for name, _ in INDEXES],
                    reverse_sql=[
                        f'CREATE INDEX "{name}" ON "usage_requestlog" ("{column}")' for name, column in INDEXES
                    ],
                )
            ],
            state_operations=[
                _without_own_index("api_key", "keys.apikey"),
                _without_own_index("team", "teams.team", help_text="The team the request was charged to."),
                _without_own_index("user", settings.AUTH_USER_MODEL),
            ],
        )
    ]
