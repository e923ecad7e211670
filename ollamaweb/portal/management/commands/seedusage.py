"""Bulk-generate request-log rows and the matching rollups (for load tests of the portal).

    manage.py seedusage --rows 1000000 --users 20 --user alice --days 30

Rows go to `--user` accounts (must exist) plus `--users` generated accounts (`seed-user-N`,
created without a usable password), each with one "seed data" API key, spread over the last
`--days` days. Rows are inserted with executemany in batches (no model instances); rollups are
added per (day, user, key, model) exactly as the log writer would have. Quota counters are not
touched.
"""

import random
import time
from collections import defaultdict
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from ollamaweb.keys.models import ApiKey
from ollamaweb.keys.services import issue_key
from ollamaweb.usage.models import RequestLog
from ollamaweb.usage.rollups import add_totals

DEFAULT_MODELS = "llama3:latest,qwen3:8b,gpt-4o-mini,mistral:7b,all-minilm:latest"
ERRORS = [
    (429, "You exceeded your daily token quota."),
    (500, "The server had an error while processing your request."),
    (502, "Ollama backend error (500): model runner crashed"),
    (503, "The model backend is unreachable; try again later."),
    (404, "The model 'gpt-5' does not exist or is not available."),
]
COLUMNS = (
    "created_at", "finished_at", "user_id", "api_key_id", "key_prefix", "endpoint", "method", "requested_model",
    "resolved_model", "status", "error", "stream", "prompt_tokens", "completion_tokens", "usage_source", "ttft_ms",
    "latency_ms", "client_user", "gpu_ms",
)  # fmt: skip


class Command(BaseCommand):
    help = "Bulk-generate N request-log rows and matching usage rollups (load-testing the portal)."

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=100_000)
        parser.add_argument("--users", type=int, default=10, help="Generated users (seed-user-N) to spread rows over.")
        parser.add_argument("--user", action="append", default=[], help="Existing username to include (repeatable).")
        parser.add_argument("--days", type=int, default=30, help="Spread rows over the last N days.")
        parser.add_argument("--models", default=DEFAULT_MODELS, help="Comma-separated model names.")
        parser.add_argument("--error-rate", type=float, default=0.03)
        parser.add_argument("--batch", type=int, default=20_000)
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args, **options):
        rows, days = options["rows"], options["days"]
        if rows < 0 or days < 1:
            raise CommandError("--rows must be ≥ 0 and --days ≥ 1")
        models = [m.strip() for m in options["models"].split(",") if m.strip()]
        if not models:
            raise CommandError("--models is empty")
        users = self._users(options["user"], options["users"])
        if not users:
            raise CommandError("no users: pass --users N and/or --user NAME")
        keys = [self._key(user) for user in users]
        rng = random.Random(options["seed"])
        started = time.perf_counter()
        now = timezone.now()
        span = days * 86400
        adapt = connection.ops.adapt_datetimefield_value
        # Fields this command does not know (added later) get their defaults.
        extra = [f for f in RequestLog._meta.concrete_fields if not f.primary_key and f.column not in COLUMNS]
        extra_values = tuple(f.get_db_prep_save(f.get_default(), connection) for f in extra)
        names = [*COLUMNS, *(f.column for f in extra)]
        table = connection.ops.quote_name(RequestLog._meta.db_table)
        columns = ", ".join(connection.ops.quote_name(c) for c in names)
        sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(names))})"
        done = 0
        while done < rows:
            count = min(options["batch"], rows - done)
            values, totals = [], defaultdict(lambda: [0, 0, 0, 0, 0])
            for _ in range(count):
                user, key = rng.choice(list(zip(users, keys)))
                model = rng.choice(models)
                created = now - timedelta(seconds=rng.random() * span)
                embed = "minilm" in model or "embed" in model
                failed = rng.random() < options["error_rate"]
                status, error = rng.choice(ERRORS) if failed else (200, "")
                prompt = 0 if failed else rng.randint(5, 2000)
                completion = 0 if failed or embed else rng.randint(1, 800)
                latency = rng.uniform(20, 200) if embed else rng.uniform(150, 20000)
                stream = not embed and rng.random() < 0.6
                gpu_ms = 0 if failed else round(latency * 0.9)
                values.append((
                    adapt(created), adapt(created + timedelta(milliseconds=latency)), user.pk, key.pk, key.prefix,
                    "embeddings" if embed else "chat.completions", "POST", model, model, status, error, stream,
                    prompt, completion, "none" if failed else "measured", None if embed or failed else latency / 10,
                    latency, "", gpu_ms, *extra_values,
                ))  # fmt: skip
                total = totals[(timezone.localdate(created), user.pk, None, key.prefix, model)]
                total[0] += 1
                total[1] += status >= 400
                total[2] += prompt
                total[3] += completion
                total[4] += gpu_ms
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.executemany(sql, values)
                add_totals(totals)
            done += count
            self.stdout.write(f"  {done:,} / {rows:,} rows", ending="\r")
            self.stdout.flush()
        elapsed = time.perf_counter() - started
        self.stdout.write(
            self.style.SUCCESS(f"Inserted {rows:,} request-log rows for {len(users)} users in {elapsed:.1f} s.")
        )

    def _users(self, names, generated):
        User = get_user_model()
        users = []
        for name in names:
            try:
                users.append(User.objects.get(username=name))
            except User.DoesNotExist:
                raise CommandError(f"no user named {name!r}") from None
        for i in range(1, generated + 1):
            user, created = User.objects.get_or_create(username=f"seed-user-{i}")
            if created:
                user.set_unusable_password()
                user.save(update_fields=["password"])
            users.append(user)
        return users

    @staticmethod
    def _key(user):
        key = ApiKey.objects.filter(user=user, name="seed data").first()
        return key or issue_key(user, "seed data")[0]
