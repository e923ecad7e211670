"""Profile the gateway under load with py-spy: where does a request's CPU time go?

    python bench/profile_gateway.py [--concurrency 64] [--duration 10] [--stream] [--server uvicorn]
        [--api openai|ollama|responses|anthropic] [--no-store] [--out bench/results]

Starts the fake upstream, a migrated SQLite database with a key and one gateway process (as
bench/run.py does), drives it with bench/load.py, and samples it with ``py-spy record`` (all
threads, idle frames excluded). Writes a speedscope profile and the raw collapsed stacks, and
prints the load result and the functions with the most samples, inclusive and by category.
``--api`` picks the protocol (and route) of bench/run.py's PROTOCOLS: /v1/chat/completions by
default; ``--no-store`` sends Responses requests with ``store: false``.
py-spy must be installed (``pip install py-spy``); it needs ptrace rights over the gateway.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import run as harness

# Where a sample's time goes. A stack with a frame matching a STICKY pattern belongs to it;
# otherwise the innermost frame that is not GENERIC (asyncio, contextlib, ...) decides.
STICKY = [
    ("request-log writer (bulk_create in a thread)", r"write_batch|usage/writer\.py"),
    (
        "Django signals: request_started/finished (close_old_connections)",
        r"close_old_connections|dispatch/dispatcher\.py",
    ),
]
LEAF = [
    ("other Django ORM work (key/alias cache refresh)", r"django/db/"),
    ("HTTP client to the upstream (httpx/httpcore/anyio/h11)", r"httpx2?/|httpcore2?/|anyio/|h11/|sniffio/"),
    ("asgiref thread hops (sync_to_async, executors, thread start/join)", r"asgiref/|concurrent/futures|threading\.py"),
    ("Django handler (read body, build request, resolve URL, send)", r"django/"),
    ("DRF APIView / Request wrapping", r"rest_framework/"),
    (
        "gateway code: parse, translate, JSON (compat/, ollamaweb/, orjson)",
        r"compat/|orjson|ollamaweb/(?!asgi|lifespan)",
    ),
    ("logging", r"logging/"),
    ("ASGI server (protocol, event loop)", r"uvicorn/|granian/|daphne/|twisted/|uvloop|asyncio/|channels/"),
]
GENERIC = re.compile(
    r"asyncio/|contextlib\.py|enum\.py|<frozen|typing\.py|functools\.py|dataclasses\.py|selectors\.py|"
    r"socket\.py|weakref|copy\.py|abc\.py|re/|sre_|tempfile\.py|email/|urllib/|datetime|json/|channels/|ollamaweb/asgi|"
    r"ollamaweb/lifespan"
)
CATEGORIES = STICKY + LEAF


def categorize(parts: list[str], sticky, leaf) -> str:
    joined = "\n".join(parts)
    for name, pattern in sticky:
        if pattern.search(joined):
            return name
    for frame in reversed(parts):
        if GENERIC.search(frame):
            continue
        for name, pattern in leaf:
            if pattern.search(frame):
                return name
    for frame in reversed(parts):  # only generic frames: the event loop itself, mostly
        for name, pattern in leaf:
            if pattern.search(frame):
                return name
    return "other"


def frames(stack: str) -> list[str]:
    return stack.split(";")


def summarize(raw_path: Path, top: int = 30) -> dict:
    total = 0
    inclusive: collections.Counter = collections.Counter()
    self_time: collections.Counter = collections.Counter()
    categories: collections.Counter = collections.Counter()
    sticky = [(name, re.compile(pattern)) for name, pattern in STICKY]
    leaf = [(name, re.compile(pattern)) for name, pattern in LEAF]
    for line in raw_path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        parts = frames(stack)
        for frame in set(parts):
            inclusive[frame] += n
        self_time[parts[-1]] += n
        categories[categorize(parts, sticky, leaf)] += n

    def pct(n):
        return round(100.0 * n / total, 1) if total else 0.0

    return {
        "samples": total,
        "categories": [(name, pct(n)) for name, n in categories.most_common()],
        "inclusive": [(frame, pct(n)) for frame, n in inclusive.most_common(top)],
        "self": [(frame, pct(n)) for frame, n in self_time.most_common(top)],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--stream", action="store_true", help="Profile streaming at 2,000 tokens/s instead.")
    parser.add_argument("--model", help="The bench model (default bench-n16, or bench-tps2000-n2000 with --stream).")
    parser.add_argument("--server", default="uvicorn", choices=["uvicorn", "granian", "daphne"])
    parser.add_argument("--workers", type=int, default=1, help="Worker processes (the first one is profiled).")
    parser.add_argument("--api", default="openai", choices=[api for _, _, api in harness.PROTOCOLS])
    parser.add_argument("--no-store", action="store_true", help="Responses: send store=false.")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second.")
    parser.add_argument("--gil", action="store_true", help="Sample only the thread holding the GIL (CPU in Python).")
    parser.add_argument("--out", default=str(harness.BENCH / "results"), help="Folder for the profiles.")
    args = parser.parse_args(argv)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        print("py-spy is not installed: pip install py-spy", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    bench = harness.Bench(
        argparse.Namespace(
            quick=False, only=None, keep_tmp=False, keep_db=False, repeat=1, env=None, baseline=None, rounds=1
        )
    )
    db = harness.Database("sqlite", f"sqlite:///{bench.tmp / 'bench.sqlite3'}")
    gateway = harness.Gateway(f"{args.server}-profiled", args.server, args.workers, db)
    try:
        bench.start_upstream()
        harness.prepare_database(db, bench.upstream_port)
        bench.start_gateways([gateway])
        model = args.model or ("bench-tps2000-n2000" if args.stream else "bench-n16")
        tokens = int(model.rsplit("-n", 1)[1]) if "-n" in model else 16
        path = next(path for _, path, api in harness.PROTOCOLS if api == args.api)
        kwargs = dict(model=model, stream=args.stream, expect_tokens=tokens if args.stream else 1, path=path,
                      api=args.api, load_args=["--no-store"] if args.no_store else [])  # fmt: skip
        bench.gw(gateway, concurrency=min(args.concurrency, 8), duration=1.0, warmup=0.5, **kwargs)  # warm up
        kind = ("stream" if args.stream else "chat") if args.api == "openai" else args.api
        kind += "-stream" if args.stream and args.api != "openai" else ""
        kind += "-nostore" if args.no_store else ""
        workers = f"-w{args.workers}" if args.workers > 1 else ""
        name = f"profile-{args.server}{workers}-{kind}-c{args.concurrency}{'-gil' if args.gil else ''}"
        raw, speedscope = out / f"{name}.txt", out / f"{name}.speedscope.json"
        result = {}

        def drive():
            result.update(bench.gw(gateway, concurrency=args.concurrency, duration=args.duration + 1, warmup=0.5,
                                   **kwargs))  # fmt: skip

        driver = threading.Thread(target=drive)
        driver.start()
        time.sleep(0.7)
        pid = gateway.worker_pids()[0]
        common = [py_spy, "record", "--pid", str(pid), "--duration", str(int(args.duration))]
        common += ["--rate", str(args.rate), "--threads", "--nonblocking"] + (["--gil"] if args.gil else [])
        spy = subprocess.run([*common, "--format", "raw", "--output", str(raw)], capture_output=True, text=True)
        driver.join()
        if spy.returncode != 0:
            print(f"py-spy failed: {spy.stderr}", file=sys.stderr)
            return 1
        summary = summarize(raw)
        # A second, short recording in speedscope format, for a flame chart (https://speedscope.app).
        bench.log("recording a speedscope profile too")
        driver = threading.Thread(target=drive)
        driver.start()
        time.sleep(0.7)
        subprocess.run([*common[:5], "5", *common[6:], "--format", "speedscope", "--output", str(speedscope)],
                       capture_output=True, text=True)  # fmt: skip
        driver.join()
    finally:
        for proc in reversed(bench.procs):
            proc.stop()
        shutil.rmtree(bench.tmp, ignore_errors=True)
    load = {k: result.get(k) for k in ("rps", "errors", "latency_ms", "ttft_ms", "stream_tokens_per_s", "server")}
    print(json.dumps(load, indent=2))
    print(f"\n{summary['samples']} samples; time by category:")
    for category, pct in summary["categories"]:
        print(f"  {pct:5.1f}%  {category}")
    print("\ninclusive (frame on the stack):")
    for frame, pct in summary["inclusive"]:
        print(f"  {pct:5.1f}%  {frame}")
    print("\nself (innermost frame):")
    for frame, pct in summary["self"]:
        print(f"  {pct:5.1f}%  {frame}")
    (out / f"{name}.summary.json").write_text(json.dumps({"load": load, **summary}, indent=2) + "\n")
    print(f"\nwrote {raw}, {speedscope} and {name}.summary.json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
