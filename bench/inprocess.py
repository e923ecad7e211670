"""CPU per request of the gateway's own code, in one process, without an HTTP server or load generator.

    python bench/inprocess.py [--requests 2000] [--concurrency 16] [--stream] [--api openai]
                              [--profile out.pstats]

Starts the bench fake Ollama (its own process), migrates a temporary SQLite database with a key and
quota limits (as bench/run.py does), then calls the ASGI application directly with in-memory
receive/send: what remains is the gateway's work (auth, quotas, routing, the Ollama client, the
request log) plus the kernel's work for the upstream connection. Prints CPU µs per request
(process time; the log writer's thread included) — a figure that the machine's other load barely
disturbs, unlike latencies. With --profile, a cProfile of the measured requests.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

import load  # noqa: E402
import run as harness  # noqa: E402

PATHS = {api: path for _, path, api in harness.PROTOCOLS}  # bench/load.py's --api → the gateway's path


async def call(app, api: str, key: str, body: bytes) -> tuple[int, int]:
    path = PATHS[api]
    if api == "anthropic":
        credentials = [(b"x-api-key", key.encode()), (b"anthropic-version", load.ANTHROPIC_VERSION.encode())]
    else:
        credentials = [(b"authorization", f"Bearer {key}".encode())]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            *credentials,
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    sent = False
    finished = asyncio.Event()

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await finished.wait()
        return {"type": "http.disconnect"}

    status, size = 0, 0

    async def send(message):
        nonlocal status, size
        if message["type"] == "http.response.start":
            status = message["status"]
        else:
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                finished.set()

    await app(scope, receive, send)
    return status, size


async def drive(app, api, key, body, requests, concurrency):
    queue = iter(range(requests))
    statuses = []

    async def worker():
        for _ in queue:
            statuses.append((await call(app, api, key, body))[0])

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--model", default="bench-n16")
    parser.add_argument("--api", choices=sorted(PATHS), default="openai", help="The protocol (bench/load.py's --api).")
    parser.add_argument("--profile", help="Write a cProfile of the measured requests here.")
    parser.add_argument("--gap", type=float, help="Instead: one request at a time, this many seconds apart; latencies.")
    parser.add_argument("--root", help="Measure the gateway of this source tree instead (e.g. an older commit's).")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="ollamaweb-inprocess-"))
    bench = harness.Bench(argparse.Namespace(quick=True, only=None, keep_tmp=False, keep_db=False, repeat=1,
                                             env=None, baseline=None, rounds=1))  # fmt: skip
    bench.tmp = tmp
    db = harness.Database("sqlite", f"sqlite:///{tmp / 'bench.sqlite3'}")
    try:
        bench.start_upstream()
        harness.prepare_database(db, bench.upstream_port, Path(args.root) if args.root else harness.ROOT)
        os.environ.update(db.env(bench.upstream_port, Path(args.root) if args.root else harness.ROOT))
        if args.root:
            sys.path.insert(0, str(Path(args.root).resolve()))
        import uvloop

        return uvloop.run(measure(args, db.api_key))
    finally:
        for proc in bench.procs:
            proc.stop()


async def measure(args, key: str) -> int:
    import django

    django.setup()
    from ollamaweb.asgi import application

    request = argparse.Namespace(api=args.api, model=args.model, prompt="Say hi", max_tokens=0, no_store=False,
                                 stream=args.stream)  # fmt: skip
    body = json.dumps(load.request_body(request)).encode()
    await drive(application, args.api, key, body, 200, args.concurrency)  # warm up: caches, connections, threads
    if args.gap:
        latencies = []
        for _ in range(args.requests):
            await asyncio.sleep(args.gap)
            started = time.perf_counter()
            await call(application, args.api, key, body)
            latencies.append((time.perf_counter() - started) * 1000)
        latencies.sort()
        n = len(latencies)
        print(f"{n} requests {args.gap} s apart: latency p50 {latencies[n // 2]:.2f} ms, "
              f"p90 {latencies[int(n * 0.9)]:.2f} ms, max {latencies[-1]:.2f} ms")  # fmt: skip
        return 0
    profiler = (
        cProfile.Profile(time.thread_time) if args.profile else None
    )  # CPU of the event loop thread, not wall time
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    statuses = await drive(application, args.api, key, body, args.requests, args.concurrency)
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    await asyncio.sleep(0.6)  # the log writer's last flush
    bad = len([s for s in statuses if s != 200])
    print(f"{args.requests} requests, c={args.concurrency}, {'stream' if args.stream else 'non-stream'} {args.api} {args.model}: "
          f"{cpu / args.requests * 1e6:.0f} µs CPU per request, {args.requests / wall:.0f} req/s, {bad} not 200")  # fmt: skip
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
