"""How fast is the staff's request explorer on a big request log?

    .venv/bin/python bench/explorer.py --rows 10000000 [--database-url postgres://...] [--keep DIR]

Makes a fresh SQLite database in a temporary folder (or uses --database-url: an empty database, or
one this script filled before, which is reused), migrates it and fills it with `--rows` request-log
rows in the database itself (PostgreSQL: generate_series; SQLite: a recursive CTE; secondary
indexes dropped during the fill and rebuilt after, then ANALYZE): 400 users with 1-3 keys each
(7 key names), 37 models, 16 backends (each model on 3), every endpoint, ~2 % errors of 7 kinds,
24 teams (7 users in 8 in one, charged to it), over 180 days up to now, traffic skewed towards some keys and models; the rollups are built from
the log. Then it times each explorer query (first call, then the median of --repeat) through
Django's test client as a signed-in staff member: the server time of the whole page, and the part
of it spent executing SQL (on SQLite rows are read as they are fetched, so that part is low).
10 million rows take ~20 minutes to fill on 2 busy CPUs (PostgreSQL or SQLite) and ~7 GB of disk.
"""

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FIRST = "anna ben chloe david emma felix grace hugo iris jack kate liam mia noah olga paul rosa sam tara victor".split()
LAST = "smith jones garcia muller rossi dubois novak silva kowalski jensen".split() + [
    "nguyen", "kim", "ivanova", "larsen", "costa", "berg", "moreau", "santos", "weber", "lopez",
]  # fmt: skip
KEY_NAMES = ["laptop", "ci", "notebook", "prod-service", "staging", "scripts", "eval"]
TEAMS = (
    "research platform support data-science mobile web infra security ml-ops sales-eng docs qa billing search"
    " ads growth design analytics devrel robotics vision finance-tools hr-tools legal-tech"
).split()
MODELS = [
    f"{family}:{size}"
    for family, sizes in (
        ("llama3.1", "8b 70b"), ("llama3.2", "1b 3b"), ("qwen3", "0.6b 4b 8b 14b 32b"), ("qwen2.5-coder", "7b 32b"),
        ("mistral", "7b"), ("mistral-small", "24b"), ("mixtral", "8x7b"), ("gemma3", "1b 4b 12b 27b"),
        ("phi4", "14b"), ("phi4-mini", "3.8b"), ("deepseek-r1", "7b 14b 32b 70b"), ("codellama", "7b 13b"),
        ("nomic-embed-text", "latest"), ("all-minilm", "latest"), ("mxbai-embed-large", "latest"),
        ("llava", "7b 13b"), ("granite3.3", "8b"), ("smollm2", "135m 360m"), ("gpt-oss", "20b 120b"),
        ("command-r", "35b"),
    )
    for size in sizes.split()
]  # fmt: skip
BACKENDS = [f"gpu-{rack}{n}" for rack in "ab" for n in range(1, 9)]
# (endpoint, method, cumulative share)
ENDPOINTS = [
    ("chat.completions", "POST", 0.62), ("embeddings", "POST", 0.77), ("responses", "POST", 0.85),
    ("completions", "POST", 0.91), ("models", "GET", 0.96), ("models.retrieve", "GET", 0.98),
    ("responses.retrieve", "GET", 0.99), ("responses.input_items", "GET", 0.995), ("responses.delete", "DELETE", 0.998),
    ("unknown", "POST", 1.0),
]  # fmt: skip
# (status, error, cumulative share): ~2 % errors
STATUSES = [
    (200, "", 0.98), (429, "You exceeded your daily token quota.", 0.986), (400, "Invalid 'messages': empty.", 0.989),
    (404, "The model 'gpt-5' does not exist or is not available.", 0.991), (499, "client disconnected", 0.993),
    (500, "The server had an error while processing your request.", 0.995),
    (502, "Ollama backend error (500): model runner crashed", 0.997),
    (503, "The model backend is unreachable; try again later.", 1.0),
]  # fmt: skip
DAYS = 180


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--keep", help="keep the SQLite database in this folder (reused when it exists)")
    parser.add_argument("--repeat", type=int, default=5, help="timed calls per query after the first")
    args = parser.parse_args()
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="ollamaweb-explorer-"))
    folder.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="ollamaweb.settings",
        OLLAMAWEB_HEALTH_INTERVAL="0",
        DATABASE_URL=args.database_url or f"sqlite:///{folder / 'explorer.sqlite3'}",
    )
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-explorer")
    try:
        import django

        django.setup()
        from django.core.management import call_command

        from ollamaweb.usage.models import RequestLog

        call_command("migrate", verbosity=0)
        if not RequestLog.objects.exists():
            started = time.perf_counter()
            fill(args.rows)
            print(f"filled {args.rows:,} rows in {time.perf_counter() - started:.0f} s")
        measure(args.repeat)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


# the fill


def fill(rows: int):
    from django.db import connection
    from django.utils import timezone

    from ollamaweb.usage.models import RequestLog

    postgres = connection.vendor == "postgresql"
    keys = make_people()
    team_of = make_teams()
    with connection.cursor() as cursor:
        pick_tables(cursor, keys, team_of)
        table = RequestLog._meta.db_table
        indexes = drop_indexes(cursor, table, postgres)
        now = timezone.now()
        start_us = int((now - timedelta(days=DAYS)).timestamp() * 1_000_000)
        step_us = DAYS * 86400 * 1_000_000 // max(rows, 1)
        chunk = 1_000_000
        for first in range(1, rows + 1, chunk):
            last = min(rows, first + chunk - 1)
            started = time.perf_counter()
            cursor.execute(insert_sql(table, postgres, start_us, step_us), [first, last])
            print(f"  rows {first:,}-{last:,}: {time.perf_counter() - started:.1f} s", flush=True)
        started = time.perf_counter()
        if postgres:
            cursor.execute("SET maintenance_work_mem = '512MB'")
            cursor.execute("SET work_mem = '256MB'")  # the rollups' GROUP BY
        for sql in indexes:
            cursor.execute(sql)
        print(f"  {len(indexes)} indexes rebuilt in {time.perf_counter() - started:.0f} s", flush=True)
        day = "(created_at AT TIME ZONE 'UTC')::date" if postgres else "date(created_at)"
        cursor.execute(
            "INSERT INTO usage_usagerollup (day, user_id, team_id, key_prefix, model, requests, errors, prompt_tokens,"
            " completion_tokens, gpu_ms)"
            f" SELECT {day}, user_id, team_id, key_prefix, requested_model, count(*),"
            " sum(CASE WHEN status >= 400 THEN 1 ELSE 0 END), sum(prompt_tokens), sum(completion_tokens), sum(gpu_ms)"
            f" FROM {table} WHERE user_id IS NOT NULL GROUP BY 1, 2, 3, 4, 5"
        )
        for name in ("bench_key", "bench_model", "bench_backend"):
            cursor.execute(f"DROP TABLE {name}")
        cursor.execute("ANALYZE")


def make_people() -> list:
    """400 users with 1-3 keys each; returns the keys, in a fixed order."""
    import random

    from django.contrib.auth import get_user_model

    from ollamaweb.keys.services import issue_key

    rng = random.Random(7)
    User = get_user_model()
    keys = []
    for last in LAST:
        for first in FIRST:
            user = User.objects.create_user(f"{first}.{last}")
            for name in rng.sample(KEY_NAMES, rng.randint(1, 3)):
                keys.append(issue_key(user, name)[0])
    rng.shuffle(keys)
    return keys


def make_teams() -> dict[int, int]:
    """24 teams; every user but one in eight is in one (their default team): user id → team id."""
    from django.contrib.auth import get_user_model

    from ollamaweb.teams.services import add_member, create_team

    staff, _ = get_user_model().objects.get_or_create(username="explorer-bench", defaults={"is_staff": True})
    teams = [create_team(staff, name) for name in TEAMS]
    team_of = {}
    users = get_user_model().objects.filter(is_staff=False).order_by("pk")
    for i, user in enumerate(user for n, user in enumerate(users) if n % 8):
        team = teams[i % len(teams)]
        add_member(staff, team, user)
        team_of[user.pk] = team.pk
    return team_of


def pick_tables(cursor, keys, team_of: dict[int, int]):
    """Small lookup tables the fill joins on: index → key (with its user's team), model, backend."""
    cursor.execute(
        "CREATE TABLE bench_key (idx integer PRIMARY KEY, key_id integer, user_id integer, prefix text, team_id integer)"
    )
    cursor.executemany("INSERT INTO bench_key VALUES (%s, %s, %s, %s, %s)",
                       [(i, k.pk, k.user_id, k.prefix, team_of.get(k.user_id)) for i, k in enumerate(keys)])  # fmt: skip
    cursor.execute("CREATE TABLE bench_model (idx integer PRIMARY KEY, name text, embed integer)")
    cursor.executemany(
        "INSERT INTO bench_model VALUES (%s, %s, %s)",
        [(i, m, int("embed" in m or "minilm" in m)) for i, m in enumerate(MODELS)],
    )
    cursor.execute("CREATE TABLE bench_backend (idx integer PRIMARY KEY, name text)")
    cursor.executemany("INSERT INTO bench_backend VALUES (%s, %s)", list(enumerate(BACKENDS)))


def drop_indexes(cursor, table: str, postgres: bool) -> list[str]:
    """Drop the table's secondary indexes (not the primary key) and return the SQL that rebuilds them."""
    if postgres:
        cursor.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = %s AND i.indexname NOT IN"
            " (SELECT conname FROM pg_constraint WHERE contype IN ('p', 'u'))",
            [table],
        )
    else:
        cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s AND sql IS NOT NULL",
                       [table])  # fmt: skip
    found = cursor.fetchall()
    for name, _ in found:
        cursor.execute(f'DROP INDEX "{name}"')
    return [sql for _, sql in found]


def insert_sql(table: str, postgres: bool, start_us: int, step_us: int) -> str:
    """INSERT … SELECT of rows %s to %s: every random draw made once per row, in the generator."""
    from ollamaweb.usage.models import RequestLog

    draws = "abcdefgh"
    if postgres:
        rand, floor = "random()", "floor({})::int".format
        gen = f"SELECT i, {', '.join(f'{rand} AS {d}' for d in draws)} FROM generate_series(%s::int, %s::int) AS i"
        at_us = f"({start_us}::bigint + s.i::bigint * {step_us} + floor(s.h * 4000000)::bigint)"
        created = f"(TIMESTAMPTZ 'epoch' + {at_us} * INTERVAL '1 microsecond')"
        finished = f"(TIMESTAMPTZ 'epoch' + ({at_us} + floor(lat.ms * 1000)::bigint) * INTERVAL '1 microsecond')"
        request_id = "'req_' || lpad(to_hex(s.i), 24, '0')"
    else:
        rand, floor = "((random() & 4294967295) / 4294967296.0)", "CAST({} AS INTEGER)".format
        gen = (
            f"WITH RECURSIVE g(i, {', '.join(draws)}) AS (SELECT %s, {', '.join([rand] * len(draws))}"
            f" UNION ALL SELECT i + 1, {', '.join([rand] * len(draws))} FROM g WHERE i < %s) SELECT * FROM g"
        )
        at_us = f"({start_us} + s.i * {step_us} + CAST(s.h * 4000000 AS INTEGER))"

        def stamp(us):
            return f"(strftime('%Y-%m-%d %H:%M:%S', {us} / 1000000, 'unixepoch') || printf('.%06d', {us} % 1000000))"

        created = stamp(at_us)
        finished = stamp(f"({at_us} + CAST(lat.ms * 1000 AS INTEGER))")
        request_id = "printf('req_%024x', s.i)"
    # a = key (skewed), b = model (skewed), c = backend among the model's 3, d = endpoint, e = status,
    # f = tokens, g = latency and streaming, h = jitter of the arrival time
    endpoint = case("s.d", [(f"'{e}'", share) for e, _, share in ENDPOINTS])
    method = case("s.d", [(f"'{m}'", share) for _, m, share in ENDPOINTS])
    status = case("s.e", [(str(code), share) for code, _, share in STATUSES])
    error = case("s.e", [("'" + text.replace("'", "''") + "'", share) for _, text, share in STATUSES])
    no_model = f"s.d >= {ENDPOINTS[3][2]}"  # models, retrieve-style calls and unknown routes
    ok = f"s.e < {STATUSES[0][2]}"
    values = {
        "request_id": request_id,
        "created_at": created,
        "finished_at": finished,
        "user_id": "k.user_id",
        "team_id": "k.team_id",
        "api_key_id": "k.key_id",
        "key_prefix": "k.prefix",
        "endpoint": endpoint,
        "method": method,
        "requested_model": f"CASE WHEN {no_model} THEN '' ELSE m.name END",
        "resolved_model": f"CASE WHEN {no_model} THEN '' ELSE m.name END",
        "backend": f"CASE WHEN {no_model} THEN '' ELSE bk.name END",
        "status": status,
        "error": error,
        "stream": f"(s.g < 0.6 AND s.d < {ENDPOINTS[0][2]})",
        "prompt_tokens": f"CASE WHEN {ok} AND NOT {no_model} THEN 5 + {floor('s.f * 2000')} ELSE 0 END",
        "completion_tokens": f"CASE WHEN {ok} AND NOT {no_model} AND m.embed = 0 THEN 1 + {floor('s.f * s.g * 900')}"
        " ELSE 0 END",
        "usage_source": f"CASE WHEN {ok} AND NOT {no_model} THEN 'measured' ELSE 'none' END",
        "ttft_ms": f"CASE WHEN {ok} AND s.d < {ENDPOINTS[0][2]} THEN 40 + s.g * 400 ELSE NULL END",
        "total_duration_ms": f"CASE WHEN {ok} AND NOT {no_model} THEN lat.ms * 0.9 ELSE NULL END",
        "latency_ms": "lat.ms",
        "gpu_ms": f"CASE WHEN {ok} AND NOT {no_model} THEN {floor('lat.ms * 0.9')} ELSE 0 END",
    }
    if not postgres:
        values["stream"] = f"CASE WHEN {values['stream']} THEN 1 ELSE 0 END"
    params = []
    columns = []
    for f in RequestLog._meta.concrete_fields:
        if f.primary_key:
            continue
        columns.append(f'"{f.column}"')
        if f.column not in values:  # every other column: its default
            default = f.get_default()
            values[f.column] = "NULL" if default is None else quote(default, postgres)
        params.append(values[f.column])
    sql = f'INSERT INTO "{table}" ({", ".join(columns)}) SELECT {", ".join(params)} FROM ({gen}) AS s'
    sql += f" JOIN bench_key k ON k.idx = {floor(f's.a * s.a * {len_keys()}')}"
    sql += f" JOIN bench_model m ON m.idx = {floor(f's.b * s.b * {len(MODELS)}')}"
    sql += f" JOIN bench_backend bk ON bk.idx = (m.idx * 3 + {floor('s.c * 3')}) %% {len(BACKENDS)}"
    return sql.replace("lat.ms", "(CASE WHEN m.embed = 1 THEN 20 + s.g * 200 ELSE 150 + s.g * s.g * 30000 END)")


def len_keys():
    from ollamaweb.keys.models import ApiKey

    return ApiKey.objects.count()


def case(draw: str, choices: list[tuple[str, float]]) -> str:
    """A value chosen by a uniform draw in [0, 1): `choices` are (SQL value, cumulative share)."""
    arms = " ".join(f"WHEN {draw} < {share} THEN {value}" for value, share in choices[:-1])
    return f"CASE {arms} ELSE {choices[-1][0]} END"


def quote(value, postgres: bool) -> str:
    if isinstance(value, bool):
        return ("true" if value else "false") if postgres else str(int(value))
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


# the measurement


def queries() -> list[tuple[str, str]]:
    """(label, query string) of every kind of explorer filter, with names from the fill."""
    from urllib.parse import urlencode

    from django.db.models import Sum

    from ollamaweb.usage.models import RequestLog, UsageRollup

    by_user = list(
        UsageRollup.objects.values("user__username")
        .annotate(n=Sum("requests"))
        .order_by("-n")
        .values_list("user__username", "n")
    )
    busy, median, quiet = by_user[0], by_user[len(by_user) // 2], by_user[-1]
    model = "qwen3:8b"
    served = {BACKENDS[(MODELS.index(model) * 3 + j) % len(BACKENDS)] for j in range(3)}
    other_backend = next(b for b in BACKENDS if b not in served)
    middle = RequestLog.objects.filter(pk__gte=RequestLog.objects.order_by("-pk").values_list("pk", flat=True)[0] // 2)
    mid = middle.order_by("pk").values_list("created_at", "pk")[0]
    deep = f"{int(mid[0].timestamp() * 1_000_000)}.{mid[1]}"
    window = (
        (mid[0] - timedelta(hours=12)).strftime("%Y-%m-%dT%H:%M"),
        (mid[0] + timedelta(hours=12)).strftime("%Y-%m-%dT%H:%M"),
    )

    def q(**params):
        return "?" + urlencode(params) if params else ""

    return [
        ("everything, newest first", q()),
        (f"a user, exact (busiest: {busy[1]:,} rows)", q(user="=" + busy[0])),
        (f"a user, exact (median: {median[1]:,} rows)", q(user="=" + median[0])),
        (f"a user, exact (quietest: {quiet[1]:,} rows)", q(user="=" + quiet[0])),
        ("a user, partial (`anna`: 20 users)", q(user="anna")),
        ("a user, partial (`a`: 334 users)", q(user="a")),
        ("a user that does not exist", q(user="nobody")),
        ("a team, exact (`=research`)", q(team="=research")),
        ("a team, partial (`s`: 15 teams)", q(team="s")),
        ("a team's errors", q(team="=research", status="error")),
        ("a key name, partial (`laptop`: 132 keys)", q(key="laptop")),
        ("a key name, exact (`=ci`)", q(key="=ci")),
        ("a model, exact", q(model="=" + model)),
        ("a model, partial (`qwen`: 7 models)", q(model="qwen")),
        ("a model, partial, rare (`command-r`)", q(model="command-r")),
        ("a backend", q(backend="gpu-a3")),
        ("a backend that served nothing", q(backend="gpu-z9")),
        ("an endpoint (embeddings)", q(endpoint="embeddings")),
        ("a rare endpoint (responses.delete)", q(endpoint="responses.delete")),
        ("status: any error", q(status="error")),
        ("status: 5xx", q(status="5xx")),
        ("status: 4xx", q(status="4xx")),
        ("status: 503", q(status="503")),
        ("status: 2xx", q(status="2xx")),
        ("time: last hour", q(range="1h")),
        ("time: last 24 hours", q(range="24h")),
        ("time: last 30 days", q(range="30d")),
        ("time: one day 90 days ago (from/until)", q(since=window[0], until=window[1])),
        ("errors, last 24 hours", q(status="error", range="24h")),
        ("5xx on one model", q(status="5xx", model="=" + model)),
        ("a user's errors", q(user="=" + median[0], status="error")),
        ("a user's 5xx on one model", q(user="=" + median[0], status="5xx", model="=" + model)),
        ("a model on a backend that never served it", q(model="=" + model, backend=other_backend)),
        ("embeddings that failed, last 7 days", q(endpoint="embeddings", status="error", range="7d")),
        (
            "one user, one model, errors, last hour",
            q(user="=" + median[0], model="=" + model, status="error", range="1h"),
        ),
        ("a user, one day 90 days ago", q(user="=" + median[0], since=window[0], until=window[1])),
        ("page 20 of a user (keyset, walked)", "walk:" + q(user="=" + median[0])),
        ("90 days back: everything (keyset cursor)", q(before=deep)),
        ("90 days back: a user", q(user="=" + median[0], before=deep)),
        ("90 days back: a partial user (`anna`)", q(user="anna", before=deep)),
        ("90 days back: a model", q(model="=" + model, before=deep)),
        ("90 days back: errors", q(status="error", before=deep)),
        ("90 days back: newer page (after=)", q(after=deep)),
    ]


def measure(repeat: int):
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    from ollamaweb.usage.models import RequestLog

    setup_test_environment()
    settings_hosts()
    User = get_user_model()
    staff, _ = User.objects.get_or_create(username="explorer-bench", defaults={"is_staff": True})
    client = Client()
    client.force_login(staff)
    total = RequestLog.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    print(
        f"{connection.vendor}, ~{total:,} request-log rows; explorer page times (first call, then median of {repeat}):"
    )
    print("| query | first | median | of which SQL | rows | count shown |")
    print("|---|---:|---:|---:|---:|---|")
    for label, query in queries():
        if query.startswith("walk:"):
            query = deep_page(client, query[5:])
        times, db_times = [], []
        for _ in range(1 + repeat):
            in_db = [0.0]
            started = time.perf_counter()
            with connection.execute_wrapper(timed(in_db)):
                response = client.get("/staff/requests/" + query)
            times.append((time.perf_counter() - started) * 1000)
            db_times.append(in_db[0] * 1000)
            assert response.status_code == 200, (query, response.status_code)
        html = response.content.decode()
        rows = len(re.findall(r'href="/staff/requests/\d+/"', html))
        count = re.search(r'<p class="match-count[^"]*">([^<]*)</p>', html)
        shown = count.group(1).strip() if count else ""
        print(f"| {label} | {times[0]:.0f} ms | {statistics.median(times[1:]):.0f} ms"
              f" | {statistics.median(db_times[1:]):.0f} ms | {rows} | {shown} |", flush=True)  # fmt: skip


def timed(total: list[float]):
    """A database execute wrapper adding each query's time to total[0] (seconds)."""

    def wrapper(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            total[0] += time.perf_counter() - started

    return wrapper


def deep_page(client, query: str) -> str:
    for _ in range(19):
        html = client.get("/staff/requests/" + query).content.decode()
        older = re.search(r'href="\?([^"]*before=[^"]+)" rel="next"', html)
        if not older:
            break
        query = "?" + older.group(1).replace("&amp;", "&")
    return query


def settings_hosts():
    from django.conf import settings

    settings.ALLOWED_HOSTS = ["testserver", *settings.ALLOWED_HOSTS]


if __name__ == "__main__":
    main()
