import csv
import json
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from ollamaweb.usage.reports import COLUMNS, TEAM_COLUMNS, usage_by_team, usage_by_user_and_model


class Command(BaseCommand):
    help = (
        "Print requests, tokens and GPU time per user, team charged and model (--by team: per team and model), "
        "from the usage rollups."
    )

    def add_arguments(self, parser):
        parser.add_argument("--by", choices=("user", "team"), default="user", help="one row per user or per team")
        parser.add_argument("--user", help="Only this username.")
        parser.add_argument("--team", help="Only requests charged to this team.")
        parser.add_argument("--since", help="Only requests from this day on (YYYY-MM-DD).")
        parser.add_argument("--format", choices=("table", "json", "csv"), default="table")

    def handle(self, by, user, team, since, format, **options):
        try:
            since_day = date.fromisoformat(since) if since else None
        except ValueError:
            raise CommandError("--since must be a date like 2026-11-25.") from None
        if by == "team":
            if user:
                raise CommandError("--user goes with --by user.")
            rows = [row for row in usage_by_team(since_day) if not team or row["team"] == team]
            columns = TEAM_COLUMNS
        else:
            rows, columns = usage_by_user_and_model(user, since_day, team), COLUMNS
        if format == "json":
            self.stdout.write(json.dumps(rows, indent=2))
        elif format == "csv":
            writer = csv.DictWriter(self.stdout, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        else:
            self._table(rows, columns)

    def _table(self, rows, columns):
        cells = [columns] + [tuple(str(row[column]) for column in columns) for row in rows]
        widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
        for n, line in enumerate(cells):
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())
            if n == 0:
                self.stdout.write("  ".join("-" * width for width in widths))
