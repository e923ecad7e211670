"""How fast is the staff's request explorer on a big request log?

    .venv/bin/python bench/explorer.py --rows 2000000 [--database-url postgres://...] [--keep DIR]

Makes a fresh SQLite database in a temporary folder (or uses --database-url, which must be an
empty database), migrates it, seeds `--rows` request-log rows with `manage.py seedusage` (20
users, 30 days), then times each explorer query (first call, then the median of 5) through Django's
test client as a signed-in staff member: the server time of the whole page.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
QUERIES = [
    ("everything, newest first", ""),
    ("a user, exact", "?user=%3Dseed-user-7"),
    ("a user, partial (matches 11 users)", "?user=user-1"),
    ("a model, partial", "?model=qwen"),
    ("errors, last 24 hours", "?status=error&range=24h"),
    ("5xx on one model", "?status=5xx&model=mistral"),
    ("a key name", "?key=seed"),
    ("an endpoint, last 7 days", "?endpoint=embeddings&range=7d"),
    ("a backend that served nothing", "?backend=gpu9"),
    ("rare: one user, one model, errors, 1 hour", "?user=%3Dseed-user-3&model=llama3&status=error&range=1h"),
    ("page 20 of a user (keyset)", None),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--keep", help="keep the SQLite database in this folder (reused when it exists)")
    args = parser.parse_args()
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="ollamaweb-explorer-"))
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "ollamaweb.settings", "OLLAMAWEB_HEALTH_INTERVAL": "0"}
    env["DATABASE_URL"] = args.database_url or f"sqlite:///{folder / 'explorer.sqlite3'}"
    env.setdefault("DJANGO_SECRET_KEY", "bench-explorer")
    manage = [sys.executable, str(ROOT / "manage.py")]
    try:
        subprocess.run([*manage, "migrate", "-v", "0"], env=env, check=True, cwd=ROOT)
        fresh = subprocess.run(
            [*manage, "shell", "-c", "from ollamaweb.usage.models import RequestLog; print(RequestLog.objects.count())"],
            env=env, check=True, cwd=ROOT, capture_output=True, text=True,
        ).stdout.split()[-1] == "0"  # fmt: skip
        if fresh:
            started = time.perf_counter()
            subprocess.run(
                [*manage, "seedusage", "--rows", str(args.rows), "--users", "20"], env=env, check=True, cwd=ROOT
            )
            print(f"seeded {args.rows:,} rows in {time.perf_counter() - started:.0f} s")
        os.environ.update(env)
        measure()
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


def measure():
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.test.utils import setup_test_environment

    from ollamaweb.usage.models import RequestLog

    setup_test_environment()
    settings_hosts()
    User = get_user_model()
    staff, _ = User.objects.get_or_create(username="explorer-bench", defaults={"is_staff": True})
    client = Client()
    client.force_login(staff)
    total = RequestLog.objects.count()
    print(f"{total:,} request-log rows; explorer page times (first call, then median of 5):")
    for label, query in QUERIES:
        if query is None:
            query = deep_page(client)
        times = []
        for _ in range(6):
            started = time.perf_counter()
            response = client.get("/staff/requests/" + query)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (query, response.status_code)
        rows = len(re.findall(r'href="/staff/requests/\d+/"', response.content.decode()))
        print(f"  {times[0]:8.1f} ms {statistics.median(times[1:]):8.1f} ms  {rows:3d} rows  {label}")


def deep_page(client) -> str:
    query = "?user=%3Dseed-user-7"
    for _ in range(19):
        html = client.get("/staff/requests/" + query).content.decode()
        query = "?" + re.search(r'href="\?([^"]*before=[^"]+)" rel="next"', html).group(1).replace("&amp;", "&")
    return query


def settings_hosts():
    from django.conf import settings

    settings.ALLOWED_HOSTS = ["testserver", *settings.ALLOWED_HOSTS]


if __name__ == "__main__":
    main()
