import csv
import json
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from ollamaweb.usage.reports import COLUMNS, usage_by_user_and_model


class Command(BaseCommand):
    help = "Print requests and tokens per user and model."

    def add_arguments(self, parser):
        parser.add_argument("--user", help="Only this username.")
        parser.add_argument("--since", help="Only requests from this day on (YYYY-MM-DD).")
        parser.add_argument("--format", choices=("table", "json", "csv"), default="table")

    def handle(self, user, since, format, **options):
        try:
            since_day = date.fromisoformat(since) if since else None
        except ValueError:
            raise CommandError("--since must be a date like 2026-11-25.") from None
        rows = usage_by_user_and_model(user, since_day)
        if format == "json":
            self.stdout.write(json.dumps(rows, indent=2))
        elif format == "csv":
            writer = csv.DictWriter(self.stdout, fieldnames=COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        else:
            self._table(rows)

    def _table(self, rows):
        cells = [COLUMNS] + [tuple(str(row[column]) for column in COLUMNS) for row in rows]
        widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
        for n, line in enumerate(cells):
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())
            if n == 0:
                self.stdout.write("  ".join("-" * width for width in widths))
