"""ollamaweb gateway benchmark: gateway vs direct-to-upstream, in one run (see bench/README.md).

    python bench/run.py [--quick] [--json bench/results/latest.json] [--only 1,2,3,4,5,servers]

Starts the fake Ollama (tests/fake_ollama.py --bench, the tests' fake), a migrated temporary SQLite database with an API key,
the gateway under uvicorn (1 process and --workers 2), granian and daphne, and, when reachable,
PostgreSQL + Redis; drives them with bench/load.py in its own process; prints a table and writes
JSON plus a Markdown copy of the table. Everything it starts is stopped at the end.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import datetime
import functools
import json
import os
import platform
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PY = sys.executable
SECRET = "bench-secret-key-not-for-production-0123456789abcdefghijklmnopqrstuvwxyz"
PG_ADMIN_DB = os.environ.get("BENCH_PG_ADMIN_DB", "test")
PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_DB = os.environ.get("BENCH_PG_DB", "ollamaweb_bench")
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
# Redis databases of the gateway measured and of a baseline tree: not the tests' (15), and emptied
# before each use, so neither sees the other's counters or a previous run's.
BENCH_REDIS_DB, BASELINE_REDIS_DB = 13, 12
CLK_TCK = os.sysconf("SC_CLK_TCK")
HTTP_PROTOCOL = "ollamaweb.core.uvicorn_http:HttpProtocol"  # as bin/serve serves the gateway
# The machine-speed probe (reference_ms): iterations of a fixed piece of pure-Python work.
REFERENCE_ITERATIONS = 100_000
SCENARIOS = ["1", "2", "3", "4", "5", "servers", "protocols", "metrics"]
# The gateway's chat protocols (scenario "protocols"): name, path, bench/load.py's --api. Each is
# served from the upstream's /api/chat.
PROTOCOLS = (
    ("OpenAI chat", "/v1/chat/completions", "openai"),
    ("native", "/api/chat", "ollama"),
    ("Responses", "/v1/responses", "responses"),
    ("Anthropic", "/v1/messages", "anthropic"),
)


@dataclass
class Profile:
    """Sizes of one run: --quick checks that everything works, the default measures."""

    quick: bool
    duration: float
    warmup: float
    latency_concurrency: tuple[int, ...] = (1, 32)
    throughput_concurrency: int = 64
    stream_concurrency: int = 1
    stream_tokens_slow: int = 100  # at 100 tokens/s
    stream_tokens_fast: int = 2000  # at 2,000 tokens/s
    open_streams: int = 1000
    open_stream_tokens: int = 100  # at 10 tokens/s: each stream stays open ~10 s, so all can be open at once
    open_stream_tps: int = 10
    idle_gap_ms: float = 1000.0  # scenario 1: requests this far apart (a user, not a benchmark)
    idle_duration: float = 10.0

    @classmethod
    def make(cls, quick: bool) -> Profile:
        if quick:
            return cls(
                quick=True,
                duration=0.4,
                warmup=0.1,
                latency_concurrency=(1, 4),
                throughput_concurrency=8,
                stream_tokens_slow=5,
                stream_tokens_fast=100,
                open_streams=40,
                open_stream_tokens=4,
                idle_gap_ms=100.0,
                idle_duration=0.4,
            )
        return cls(quick=False, duration=5.0, warmup=1.0)


# --- processes ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def descendants(pid: int) -> list[int]:
    """pid and all its descendants (via /proc/PID/task/*/children)."""
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                stack.extend(int(child) for child in (task / "children").read_text().split())
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


def cpu_pressure_us() -> int | None:
    """Total µs during which some runnable task waited for a CPU (/proc/pressure/cpu), if available."""
    try:
        for line in Path("/proc/pressure/cpu").read_text().splitlines():
            if line.startswith("some"):
                return int(line.rsplit("total=", 1)[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def machine_busy_s() -> float:
    """CPU seconds spent busy by all CPUs since boot (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / CLK_TCK


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Proc:
    """A child process in its own session (so it and its workers are stopped together)."""

    def __init__(self, name: str, cmd: list[str], env: dict, logdir: Path, cwd: Path = ROOT):
        self.name = name
        self.cmd = cmd
        self.log_path = logdir / f"{name}.log"
        self.log = open(self.log_path, "wb")  # closed in stop()
        self.popen = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def pids(self) -> list[int]:
        return descendants(self.pid)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines=20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self, timeout=10.0):
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait(5)
        self.log.close()


def http_get(port: int, path: str, headers: dict | None = None, timeout=2.0) -> int:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def wait_http(proc: Proc, port: int, path: str, headers: dict | None = None, timeout=60.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}):\n{proc.tail()}")
        try:
            status = http_get(port, path, headers)
            if status == 200:
                return
            last = f"HTTP {status}"
        except OSError as exc:
            last = exc
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name} not ready on port {port}: {last}\n{proc.tail()}")


# --- the system under test ---------------------------------------------------------------


def _removed_at_exit(path: str) -> str:
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@dataclass
class Database:
    label: str
    url: str
    redis_url: str = ""
    api_key: str = ""
    extra_env: dict = field(default_factory=dict)  # --env NAME=VALUE, for the gateways
    # The request log's journal and spool of this database's gateways, removed at exit: a gateway
    # killed without its shutdown (bench/inprocess.py) must not leave records that another run's
    # gateway, or the developer's, then writes into its own database.
    spool: str = field(default_factory=lambda: _removed_at_exit(tempfile.mkdtemp(prefix="ollamaweb-bench-spool-")))

    def env(self, upstream_port: int, root: Path = ROOT) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "OLLAMAWEB_", "OLLAMA_"))}
        env.update(
            DJANGO_SETTINGS_MODULE="ollamaweb.settings",
            DJANGO_SECRET_KEY=SECRET,
            DATABASE_URL=self.url,
            OLLAMA_HOST=f"http://127.0.0.1:{upstream_port}",
            OLLAMAWEB_LOG_LEVEL="WARNING",
            OLLAMAWEB_LOG_SPOOL_DIR=self.spool,
            PYTHONPATH=str(root),
            PYTHONUNBUFFERED="1",
        )
        env.pop("REDIS_URL", None)
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        env.update(self.extra_env)
        return env


def manage(db: Database, upstream_port: int, *args: str, root: Path = ROOT) -> str:
    result = subprocess.run(
        [PY, "manage.py", *args], cwd=root, env=db.env(upstream_port, root), capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def prepare_database(db: Database, upstream_port: int, root: Path = ROOT):
    manage(db, upstream_port, "migrate", "--noinput", "-v0", root=root)
    db.api_key = (
        manage(db, upstream_port, "createapikey", "bench", "--name", "bench", root=root).strip().splitlines()[-1]
    )
    # Quotas on, with limits no request reaches: every request reserves and settles its tokens and
    # takes a request and a concurrency slot, as for a user with limits.
    manage(db, upstream_port, "setquota", "bench", "--tokens-per-day", str(10**12), "--requests-per-minute", str(10**9),
           "--max-concurrent", str(10**6), root=root)  # fmt: skip


def server_cmd(kind: str, port: int, workers: int, root: Path = ROOT) -> list[str]:
    app = "ollamaweb.asgi:application"
    if kind == "uvicorn":
        cmd = [PY, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop"]
        cmd += ["--http", uvicorn_protocol(root), "--no-access-log", "--log-level", "warning", "--lifespan", "on"]
        cmd += ["--backlog", "4096"]
        return cmd + (["--workers", str(workers)] if workers > 1 else [])
    if kind == "granian":
        cmd = [PY, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port)]
        cmd += ["--workers", str(workers), "--loop", "uvloop", "--log-level", "warning", "--backlog", "4096"]
        return [*cmd, app]
    if kind == "daphne":
        if workers != 1:
            raise ValueError("daphne runs one process")
        # An endpoint string, for its backlog: Twisted listens with 50 unless told, and 64 clients
        # connecting at once lost SYNs (each sent again a second later).
        return [PY, "-m", "daphne", "-e", f"tcp:port={port}:interface=127.0.0.1:backlog=4096", "-v", "0", app]
    raise ValueError(kind)


def uvicorn_protocol(root: Path) -> str:
    """uvicorn's HTTP protocol as the tree's bin/serve chooses it (trees before ollamaweb's own: httptools)."""
    return HTTP_PROTOCOL if (root / "ollamaweb" / "core" / "uvicorn_http.py").exists() else "httptools"


@dataclass
class Gateway:
    name: str
    kind: str
    workers: int
    db: Database
    port: int = 0
    proc: Proc | None = None
    root: Path = ROOT  # the source tree it runs (--baseline: an older commit's)
    extra_env: dict = field(default_factory=dict)

    def twin(self, root: Path, suffix: str, db: Database | None = None) -> Gateway:
        """The same server running another source tree (for before/after in one run)."""
        return Gateway(self.name + suffix, self.kind, self.workers, db or self.db, root=root, extra_env=self.extra_env)

    @property
    def url(self) -> str:
        return self.at("/v1/chat/completions")

    def at(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self, upstream_port: int, logdir: Path):
        self.port = free_port()
        cmd = server_cmd(self.kind, self.port, self.workers, self.root)
        self.proc = Proc(
            self.name, cmd, {**self.db.env(upstream_port, self.root), **self.extra_env}, logdir, cwd=self.root
        )

    def wait(self):
        wait_http(self.proc, self.port, "/v1/models", {"Authorization": f"Bearer {self.db.api_key}"})

    def worker_pids(self) -> list[int]:
        """The processes that serve requests (uvicorn/granian supervisors excluded when there are workers)."""
        pids = self.proc.pids()
        return pids[1:] if self.workers > 1 and len(pids) > 1 else pids


# --- measuring ---------------------------------------------------------------------------


@dataclass
class Sampler:
    """Samples CPU and RSS of some processes while a load runs."""

    pids: list[int]
    interval: float = 0.05
    peak_rss_kb: int = 0
    cpu_start: float = 0.0
    cpu_s: float = 0.0
    wall_s: float = 0.0
    per_process_start: list[float] = field(default_factory=list)
    per_process_s: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self):
        self.baseline_rss_kb = sum(rss_kb(pid) for pid in self.pids)
        self.peak_rss_kb = self.baseline_rss_kb
        self.cpu_start = cpu_seconds(self.pids)
        self.per_process_start = [cpu_seconds([pid]) for pid in self.pids]
        self.started = time.perf_counter()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(self.interval):
            self.peak_rss_kb = max(self.peak_rss_kb, sum(rss_kb(pid) for pid in self.pids))

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.wall_s = time.perf_counter() - self.started
        self.cpu_s = cpu_seconds(self.pids) - self.cpu_start
        self.per_process_s = [cpu_seconds([pid]) - start for pid, start in zip(self.pids, self.per_process_start)]

    def as_dict(self) -> dict:
        return {
            "cpu_s": self.cpu_s,
            "cpu_percent": 100.0 * self.cpu_s / self.wall_s if self.wall_s else None,
            # Several workers: how evenly the load spread over them.
            "cpu_percent_per_process": [100.0 * s / self.wall_s for s in self.per_process_s] if self.wall_s else None,
            "baseline_rss_kb": self.baseline_rss_kb,
            "peak_rss_kb": self.peak_rss_kb,
        }


class Bench:
    def __init__(self, args):
        self.args = args
        self.profile = Profile.make(args.quick)
        self.tmp = Path(tempfile.mkdtemp(prefix="ollamaweb-bench-"))
        self.procs: list[Proc] = []
        self.upstream: Proc | None = None
        self.upstream_port = 0
        self.results: dict = {}
        self.notes: list[str] = []
        self.direct_cache: dict = {}
        self.others: list[float] = []
        self.speeds: list[float] = []  # reference_ms() before each load run
        self.rounds = max(1, args.rounds)
        self.pg_databases: list[str] = []

    # infrastructure

    def log(self, message: str):
        print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    def start_upstream(self):
        ready = self.tmp / "upstream.port"
        self.upstream = Proc(
            "upstream",
            [PY, "-m", "tests.fake_ollama", "--bench", "--port", "0", "--ready-file", str(ready)],
            dict(os.environ),
            self.tmp,
        )
        self.procs.append(self.upstream)
        deadline = time.monotonic() + 20
        while not (ready.exists() and ready.read_text().strip()):
            if time.monotonic() > deadline or not self.upstream.alive():
                raise RuntimeError(f"upstream did not start:\n{self.upstream.tail()}")
            time.sleep(0.02)
        self.upstream_port = int(ready.read_text())
        self.upstream_url = f"http://127.0.0.1:{self.upstream_port}/api/chat"

    def start_gateways(self, gateways: list[Gateway]):
        for gateway in gateways:
            gateway.start(self.upstream_port, self.tmp)
            self.procs.append(gateway.proc)
        for gateway in gateways:
            gateway.wait()

    def stop_gateways(self, gateways: list[Gateway]):
        for gateway in gateways:
            if gateway.proc is not None:
                gateway.proc.stop()

    def load(self, url: str, **kwargs) -> dict:
        """One load run; with --repeat N, the best of N runs by mean latency (the others met more noise)."""
        repeat = 1 if kwargs.get("requests_per_conn") else max(1, self.args.repeat)
        runs = [self._load_once(url, **kwargs) for _ in range(repeat)]
        best = min(runs, key=lambda r: (r["errors"] > 0, (r["latency_ms"] or {}).get("mean", float("inf"))))
        if repeat > 1:
            keep = ("rps", "latency_ms", "errors", "other_cpu_percent")
            best["repeats"] = [{k: r[k] for k in keep} for r in runs]
        return best

    def _load_once(self, url: str, *, api: str, model: str, concurrency: int, stream=False, key="", expect_tokens=1,
                   requests_per_conn=0, sample: list[int] | None = None, duration=None, warmup=None,
                   think_ms=0.0, headers=(), load_args=()) -> dict:  # fmt: skip
        out = self.tmp / f"load-{time.monotonic_ns()}.json"
        cmd = [PY, str(BENCH / "load.py"), "--url", url, "--api", api, "--model", model]
        cmd += ["--concurrency", str(concurrency), "--json", str(out), "--expect-tokens", str(expect_tokens)]
        if requests_per_conn:
            cmd += ["--requests-per-conn", str(requests_per_conn)]
        else:
            cmd += [
                "--duration",
                str(duration or self.profile.duration),
                "--warmup",
                str(warmup or self.profile.warmup),
            ]
        if stream:
            cmd.append("--stream")
        if think_ms:
            cmd += ["--think-ms", str(think_ms)]
        if key:
            cmd += ["--api-key", key]
        for header in headers:
            cmd += ["--header", header]
        cmd += load_args
        upstream_pids = [self.upstream.pid]
        speed = reference_ms()
        pressure0, wall0, load0 = cpu_pressure_us(), time.perf_counter(), os.getloadavg()[0]
        busy0, own0 = machine_busy_s(), time.process_time()
        with Sampler(sample or []) as sampler, Sampler(upstream_pids) as upstream_sampler:
            result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
        pressure1, wall1 = cpu_pressure_us(), time.perf_counter()
        busy1, own1 = machine_busy_s(), time.process_time()
        if result.returncode != 0:
            raise RuntimeError(f"load generator failed:\n{result.stderr[-3000:]}")
        data = json.loads(out.read_text())
        out.unlink()
        data["server"] = sampler.as_dict() if sample else None
        data["upstream"] = upstream_sampler.as_dict()
        data["loadavg_1min_before"] = load0
        # Share of the run's wall time in which some task waited for a CPU: high = noisy numbers.
        data["cpu_pressure_percent"] = (
            None if pressure0 is None or pressure1 is None else (pressure1 - pressure0) / 1e4 / (wall1 - wall0)
        )
        ours = (own1 - own0) + data["loadgen_cpu_s"] + upstream_sampler.cpu_s + (sampler.cpu_s if sample else 0.0)
        # CPU used by processes that are not part of this measurement (other users of the machine),
        # in % of one CPU. The gateway processes not being measured (idle) count here too.
        data["other_cpu_s"] = max(0.0, busy1 - busy0 - ours)
        data["other_cpu_percent"] = 100.0 * data["other_cpu_s"] / (wall1 - wall0)
        self.others.append(data["other_cpu_percent"])
        data["reference_ms"] = speed
        self.speeds.append(speed)
        if data["errors"]:
            self.log(f"  {data['errors']} errors against {url}: {data['error_samples'][:2]}")
        return data

    def direct(self, label: str, **kwargs) -> dict:
        """A direct-to-upstream run, measured once per label and reused by later scenarios (its
        "server" is the upstream, as the gateway's runs' is the gateway)."""
        kwargs.setdefault("sample", [self.upstream.pid])
        if label not in self.direct_cache:
            self.direct_cache[label] = self.load(self.upstream_url, api="ollama", **kwargs)
        return self.direct_cache[label]

    def gw(self, gateway: Gateway, path="/v1/chat/completions", api="openai", **kwargs) -> dict:
        kwargs.setdefault("sample", gateway.worker_pids())
        return self.load(gateway.at(path), api=api, key=gateway.db.api_key, **kwargs)

    def postgres_available(self) -> str:
        """'' when PostgreSQL and Redis can be used, else why not."""
        if not shutil.which("psql"):
            return "psql is not installed"
        for host, port, what in ((PG_HOST, PG_PORT, "PostgreSQL"), (REDIS_HOST, REDIS_PORT, "Redis")):
            try:
                socket.create_connection((host, port), timeout=1).close()
            except OSError as exc:
                return f"{what} is not reachable on {host}:{port} ({exc})"
        try:
            with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if not sock.recv(64).startswith(b"+PONG"):
                    return "Redis did not answer PING"
        except OSError as exc:
            return f"Redis: {exc}"
        result = self.psql(PG_ADMIN_DB, "select 1")
        if result.returncode != 0:
            return f"PostgreSQL refused a trust-auth connection to database '{PG_ADMIN_DB}': {result.stderr.strip()}"
        return ""

    def psql(self, database: str, *commands: str) -> subprocess.CompletedProcess:
        cmd = ["psql", "-h", PG_HOST, "-p", str(PG_PORT), "-d", database, "-v", "ON_ERROR_STOP=1", "-tAq"]
        for command in commands:
            cmd += ["-c", command]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60)

    def count_logs(self, db: Database) -> int | None:
        try:
            if db.url.startswith("sqlite"):
                with contextlib.closing(sqlite3.connect(db.url.removeprefix("sqlite:///"))) as conn:
                    return conn.execute("select count(*) from usage_requestlog").fetchone()[0]
            result = self.psql(db.url.rsplit("/", 1)[1], "select count(*) from usage_requestlog")
            return int(result.stdout.strip()) if result.returncode == 0 else None
        except (sqlite3.Error, ValueError):
            return None

    # scenarios

    def scenario_1(self, gateway: Gateway) -> dict:
        rows, runs = [], {}
        for c in self.profile.latency_concurrency:
            direct = self.direct(f"chat-c{c}", model="bench-n16", concurrency=c)
            gw = self.gw(gateway, model="bench-n16", concurrency=c)
            runs[f"c{c}"] = {"gateway": gw, "direct": direct}
            for q in ("p50", "p95", "p99"):
                rows.append(row(f"latency c={c} {q}", "ms", gw["latency_ms"][q], direct["latency_ms"][q]))
            rows.append(row(f"req/s c={c}", "req/s", gw["rps"], direct["rps"], overhead=False))
            rows.append(row(f"errors c={c}", "", gw["errors"], direct["errors"], overhead=False))
        # The gateway asks the upstream for a stream (so a client that leaves is charged what ran) and
        # the fake answers a stream at a higher cost than a whole answer, which real Ollama does not:
        # the same work asked directly tells that part of the overhead from the gateway's own.
        streamed = self.direct("chat-c1-streamed", model="bench-n16", concurrency=1, stream=True, expect_tokens=16)
        runs["c1-streamed"] = {"direct": streamed}  # the gateway's run is c1's
        rows.append(row("latency c=1 p50, against the upstream streaming its answer (what the gateway asks of it)",
                        "ms", runs["c1"]["gateway"]["latency_ms"]["p50"], streamed["latency_ms"]["p50"]))  # fmt: skip
        gap, kwargs = self.profile.idle_gap_ms, self.idle_load()
        direct = self.direct("chat-idle", **kwargs)
        gw = self.gw(gateway, **kwargs)
        runs["idle"] = {"gateway": gw, "direct": direct}
        for q in ("p50", "max"):
            rows.append(row(f"latency, requests {gap / 1000:g} s apart, {q}", "ms", gw["latency_ms"][q],
                            direct["latency_ms"][q]))  # fmt: skip
        streamed = self.direct("chat-idle-streamed", stream=True, expect_tokens=16, **kwargs)
        runs["idle-streamed"] = {"direct": streamed}  # the gateway's run is idle's
        rows.append(row(f"latency, requests {gap / 1000:g} s apart, p50, against the upstream streaming its answer",
                        "ms", gw["latency_ms"]["p50"], streamed["latency_ms"]["p50"]))  # fmt: skip
        return {"title": "Latency overhead, non-streaming chat (gateway /v1/chat/completions vs /api/chat)",
                "rows": rows, "runs": runs}  # fmt: skip

    def scenario_protocols(self, gateway: Gateway) -> dict:
        """Each chat protocol through one gateway process vs the upstream's /api/chat: latency at c=1
        and a second apart, throughput and CPU per request at c=64, TTFT, one fast stream's time and
        CPU per token, and 1,000 streams opening at once (as scenarios 1-4)."""
        p = self.profile
        c, n, gap = p.throughput_concurrency, p.stream_tokens_fast, p.idle_gap_ms
        fast = f"bench-tps2000-n{n}"
        burst = self.burst_load()
        # label: (the direct run's label, shared with scenarios 1-4, the load, tokens per reply)
        loads = {
            "c1": ("chat-c1", dict(model="bench-n16", concurrency=1), 16),
            "idle": ("chat-idle", self.idle_load(), 16),
            f"c{c}": (f"chat-c{c}", dict(model="bench-n16", concurrency=c), 16),
            "ttft": ("ttft", dict(model="bench-n16", concurrency=1, stream=True, expect_tokens=16), 16),
            "fast": (fast, dict(model=fast, concurrency=1, stream=True, expect_tokens=n), n),
            "open": ("open-streams", burst, p.open_stream_tokens),
        }
        direct = {label: self.direct(key, **kwargs) for label, (key, kwargs, _) in loads.items()}
        rows, runs = [], {"direct": direct}
        for name, path, api in PROTOCOLS:
            self.log(f"protocols: {name} ({path})")
            gw = runs[name] = {label: self.gw(gateway, path, api, **kwargs) for label, (_, kwargs, _) in loads.items()}
            for q in ("p50", "p99"):
                rows.append(row(f"{name}: latency c=1 {q}", "ms", pick(gw["c1"], "latency_ms", q),
                                pick(direct["c1"], "latency_ms", q)))  # fmt: skip
            rows.append(row(f"{name}: latency, requests {gap / 1000:g} s apart, p50", "ms",
                            pick(gw["idle"], "latency_ms", "p50"), pick(direct["idle"], "latency_ms", "p50")))  # fmt: skip
            rows.append(row(f"{name}: throughput c={c}", "req/s", gw[f"c{c}"]["rps"], direct[f"c{c}"]["rps"],
                            overhead=False))  # fmt: skip
            rows.append(row(f"{name}: server CPU per request c={c}", "ms", cpu_per(gw[f"c{c}"], 1) * 1000,
                            cpu_per(direct[f"c{c}"], 1, "upstream") * 1000, overhead=False))  # fmt: skip
            rows.append(row(f"{name}: TTFT c=1 p50", "ms", pick(gw["ttft"], "ttft_ms", "p50"),
                            pick(direct["ttft"], "ttft_ms", "p50")))  # fmt: skip
            rows.append(row(f"{name}: stream time ({n} tokens at 2,000/s) p50", "ms",
                            pick(gw["fast"], "stream_duration_ms", "p50"),
                            pick(direct["fast"], "stream_duration_ms", "p50")))  # fmt: skip
            rows.append(row(f"{name}: server CPU per token at 2,000 tok/s", "µs", cpu_per(gw["fast"], n) * 1e6,
                            cpu_per(direct["fast"], n, "upstream") * 1e6, overhead=False))  # fmt: skip
            rows += self.burst_rows(f"{name}: ", gw["open"], direct["open"], brief=True)
            rows.append(row(f"{name}: errors", "", sum(r["errors"] for r in gw.values()),
                            sum(r["errors"] for r in direct.values()), overhead=False))  # fmt: skip
        return {"title": "Chat protocols through one uvicorn process, SQLite: " + ", ".join(
                    f"{name} {path}" for name, path, _ in PROTOCOLS) + " (each served from the upstream's /api/chat)",
                "rows": rows, "runs": runs,
                "tokens_per_reply": {label: tokens for label, (_, _, tokens) in loads.items()}}  # fmt: skip

    def scenario_2(self, one: Gateway, two: Gateway, title: str) -> dict:
        c = self.profile.throughput_concurrency
        direct = self.direct(f"chat-c{c}", model="bench-n16", concurrency=c)
        rows, runs = [], {"direct": direct}
        for gateway in (one, two):
            logs_before = self.count_logs(gateway.db)
            gw = self.gw(gateway, model="bench-n16", concurrency=c)
            time.sleep(max(0.5, 2 * 0.25))  # the log writer flushes every 0.25 s
            logs_after = self.count_logs(gateway.db)
            gw["log_rows_written"] = None if logs_before is None or logs_after is None else logs_after - logs_before
            label = f"{gateway.workers} proc"
            runs[label] = gw
            rows.append(row(f"throughput c={c}, {label}", "req/s", gw["rps"], direct["rps"], overhead=False))
            rows.append(row(f"latency c={c}, {label} p50", "ms", gw["latency_ms"]["p50"], direct["latency_ms"]["p50"]))
            rows.append(row(f"latency c={c}, {label} p99", "ms", gw["latency_ms"]["p99"], direct["latency_ms"]["p99"]))
            rows.append(row(f"errors, {label}", "", gw["errors"], direct["errors"], overhead=False))
            rows.append(row(f"server CPU %, {label}", "%", gw["server"]["cpu_percent"],
                            direct["upstream"]["cpu_percent"], overhead=False))  # fmt: skip
            rows.append(row(f"server CPU per request, {label}", "ms", cpu_per(gw, 1) * 1000,
                            cpu_per(direct, 1, "upstream") * 1000, overhead=False))  # fmt: skip
            shares = [share for share in gw["server"].get("cpu_percent_per_process") or () if share > 1]
            if len(shares) > 1:  # how evenly the kernel spread the connections over the workers
                rows.append(row(f"server CPU %, least / most busy process, {label}", "%", min(shares), max(shares),
                                overhead=False))  # fmt: skip
            rows.append(row(f"log rows written / requests sent, {label}", "", gw["log_rows_written"],
                            gw["sent_including_warmup"], overhead=False))  # fmt: skip
            rows.append(row(f"CPUs in use by every process, {label}", "%", cpus_in_use_percent(gw),
                            cpus_in_use_percent(direct, gateway=False), overhead=False))  # fmt: skip
        first, second = runs[f"{one.workers} proc"], runs[f"{two.workers} proc"]
        rows.append(row(f"throughput {two.workers} proc / {one.workers} proc (direct column: the most this machine allows)",
                        "×", second["rps"] / first["rps"] if first["rps"] else None,
                        scaling_ceiling(first, one.workers, two.workers), overhead=False))  # fmt: skip
        return {"title": title, "rows": rows, "runs": runs}

    def scenario_3(self, gateway: Gateway) -> dict:
        p = self.profile
        c = p.stream_concurrency
        rows, runs = [], {}
        # (a) time to first token, upstream answering at once.
        model = "bench-n16"
        direct = self.direct("ttft", model=model, concurrency=1, stream=True, expect_tokens=16)
        gw = self.gw(gateway, model=model, concurrency=1, stream=True, expect_tokens=16)
        runs["ttft"] = {"gateway": gw, "direct": direct}
        for q in ("p50", "p95", "p99"):
            rows.append(row(f"TTFT c=1 {q}", "ms", gw["ttft_ms"][q], direct["ttft_ms"][q]))
        # (b) relay at 100 and 2,000 tokens/s.
        for tps, n in ((100, p.stream_tokens_slow), (2000, p.stream_tokens_fast)):
            model = f"bench-tps{tps}-n{n}"
            kwargs = dict(model=model, concurrency=c, stream=True, expect_tokens=n)
            direct = self.direct(model, **kwargs)
            gw = self.gw(gateway, **kwargs)
            runs[f"tps{tps}"] = {"gateway": gw, "direct": direct}
            rows.append(row(f"{tps} tok/s upstream: tokens/s per stream p50", "tok/s",
                            gw["stream_tokens_per_s"]["p50"], direct["stream_tokens_per_s"]["p50"], overhead=False))  # fmt: skip
            rows.append(row(f"{tps} tok/s upstream: tokens/s per stream min", "tok/s",
                            gw["stream_tokens_per_s"]["min"], direct["stream_tokens_per_s"]["min"], overhead=False))  # fmt: skip
            rows.append(row(f"{tps} tok/s upstream: stream time ({n} tokens) p50", "ms",
                            gw["stream_duration_ms"]["p50"], direct["stream_duration_ms"]["p50"]))  # fmt: skip
            rows.append(row(f"{tps} tok/s upstream: TTFT p50", "ms", gw["ttft_ms"]["p50"], direct["ttft_ms"]["p50"]))
            rows.append(row(f"{tps} tok/s upstream: server CPU %", "%", gw["server"]["cpu_percent"],
                            direct["upstream"]["cpu_percent"], overhead=False))  # fmt: skip
            rows.append(row(f"{tps} tok/s upstream: server CPU per token", "µs", cpu_per(gw, n) * 1e6,
                            cpu_per(direct, n, "upstream") * 1e6, overhead=False))  # fmt: skip
        return {"title": f"Streaming: TTFT and relay (c={c} for relay)", "rows": rows, "runs": runs}

    def idle_load(self) -> dict:
        """One request every idle_gap_ms, as a person sends them: caches, threads and CPUs go cold."""
        gap = self.profile.idle_gap_ms
        return dict(model="bench-n16", concurrency=1, think_ms=gap, duration=self.profile.idle_duration,
                    warmup=gap / 1000)  # fmt: skip

    def burst_load(self) -> dict:
        """The load of scenario 4: every stream opened at once, each kept open ~10 s by a slow upstream."""
        p = self.profile
        return dict(model=f"bench-tps{p.open_stream_tps}-n{p.open_stream_tokens}", concurrency=p.open_streams,
                    stream=True, expect_tokens=p.open_stream_tokens, requests_per_conn=1)  # fmt: skip

    def burst_rows(self, prefix: str, gw: dict, direct: dict, brief: bool = False) -> list[dict]:
        """Rows of a burst (burst_load): errors, memory per stream, stream time and TTFT p99; with
        `brief`, not the count of open streams, the peak memory and the CPU."""
        p = self.profile
        n, tokens, tps = p.open_streams, p.open_stream_tokens, p.open_stream_tps
        per_stream = {}
        for label, run in (("gateway", gw), ("direct", direct)):
            server = run["server"]
            grown = max(0, server["peak_rss_kb"] - server["baseline_rss_kb"])
            per_stream[label] = run["rss_per_stream_kb"] = grown / max(1, run["max_open_responses"])
        rows = [row(f"{prefix}{n} streams: errors", "", gw["errors"], direct["errors"], overhead=False)]
        if not brief:
            rows.append(row(f"{prefix}{n} streams: most open at once", "", gw["max_open_responses"],
                            direct["max_open_responses"], overhead=False))  # fmt: skip
        rows.append(row(f"{prefix}{n} streams: RSS per stream", "KB", per_stream["gateway"], per_stream["direct"],
                        overhead=False))  # fmt: skip
        if not brief:
            rows.append(row(f"{prefix}{n} streams: peak RSS", "MB", gw["server"]["peak_rss_kb"] / 1024,
                            direct["server"]["peak_rss_kb"] / 1024, overhead=False))  # fmt: skip
            rows.append(row(f"{prefix}{n} streams: server CPU per token", "µs", cpu_per(gw, tokens) * 1e6,
                            cpu_per(direct, tokens) * 1e6, overhead=False))  # fmt: skip
            rows.append(row(f"{prefix}{n} streams: server CPU %", "%", gw["server"]["cpu_percent"],
                            direct["server"]["cpu_percent"], overhead=False))  # fmt: skip
        rows.append(row(f"{prefix}{n} streams: stream time p50 ({tokens} tokens at {tps}/s)", "ms",
                        gw["stream_duration_ms"] and gw["stream_duration_ms"]["p50"],
                        direct["stream_duration_ms"] and direct["stream_duration_ms"]["p50"]))  # fmt: skip
        rows.append(row(f"{prefix}{n} streams: TTFT p99", "ms", gw["ttft_ms"] and gw["ttft_ms"]["p99"],
                        direct["ttft_ms"] and direct["ttft_ms"]["p99"]))  # fmt: skip
        return rows

    def scenario_4(self, gateway: Gateway) -> dict:
        p = self.profile
        kwargs = self.burst_load()
        direct = self.load(self.upstream_url, api="ollama", sample=[self.upstream.pid], **kwargs)
        gw = self.gw(gateway, **kwargs)
        return {"title": f"{p.open_streams} concurrent open streams on one process (slow upstream: "
                         f"{p.open_stream_tps} tokens/s)",
                "rows": self.burst_rows("", gw, direct), "runs": {"gateway": gw, "direct": direct}}  # fmt: skip

    def scenario_metrics(self, on: Gateway, off: Gateway) -> dict:
        """Prometheus metrics on ("gateway" column) and off (OLLAMAWEB_METRICS=0, "direct" column),
        measured alternately (off, on, direct, off, on, direct, ...: max(2, --repeat) rounds) and the
        better run of each kept, so drift in the machine's load hits both alike; the direct runs give
        each its overhead."""
        c = self.profile.throughput_concurrency
        runs = {"on": {}, "off": {}, "direct": {}}
        rounds = {"on": [], "off": []}  # every round's c=1 p50 overhead and CPU per request
        for _ in range(max(2, self.args.repeat)):
            round_ = {}
            for label, gateway in (("off", off), ("on", on), ("direct", None)):
                for name, kwargs in (("c1", {"concurrency": 1}), (f"c{c}", {"concurrency": c})):
                    if gateway is None:
                        if name != "c1":
                            continue
                        result = self.load(self.upstream_url, api="ollama", model="bench-n16", **kwargs)
                    else:
                        result = self.gw(gateway, model="bench-n16", **kwargs)
                    round_[label, name] = result
                    best = runs[label].get(name)
                    if best is None or result["latency_ms"]["mean"] < best["latency_ms"]["mean"]:
                        runs[label][name] = result
            for label in ("on", "off"):
                rounds[label].append({
                    "overhead_p50_ms": round_[label, "c1"]["latency_ms"]["p50"]
                    - round_["direct", "c1"]["latency_ms"]["p50"],
                    "cpu_us_per_request": cpu_us(round_[label, f"c{c}"]),
                })  # fmt: skip
        rows = []
        for q in ("p50", "p99"):
            rows.append(row(f"latency c=1 {q}, metrics on vs off", "ms", runs["on"]["c1"]["latency_ms"][q],
                            runs["off"]["c1"]["latency_ms"][q]))  # fmt: skip
        for label in ("on", "off"):
            rows.append(row(f"overhead c=1 p50 vs direct, metrics {label}", "ms", runs[label]["c1"]["latency_ms"]["p50"],
                            runs["direct"]["c1"]["latency_ms"]["p50"]))  # fmt: skip
        rows.append(row(f"throughput c={c}, metrics on vs off", "req/s", runs["on"][f"c{c}"]["rps"],
                        runs["off"][f"c{c}"]["rps"], overhead=False))  # fmt: skip
        rows.append(row(f"server CPU per request c={c}, metrics on vs off", "µs", cpu_us(runs["on"][f"c{c}"]),
                        cpu_us(runs["off"][f"c{c}"])))  # fmt: skip
        return {"title": "Prometheus metrics on (gateway column) vs OLLAMAWEB_METRICS=0 (direct column), same server",
                "rows": rows, "runs": runs, "rounds": rounds}  # fmt: skip

    def scenario_peers(self, ours: Gateway) -> dict:
        """Ours (one uvicorn process) beside LiteLLM's proxy and Portkey's gateway (bench/peers.py),
        each with one process, on the same fake upstream; each row's direct figure is the upstream
        API that peer calls (/api/chat, or /v1/chat/completions for Portkey)."""
        import peers

        p = self.profile
        c = p.throughput_concurrency
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "OLLAMAWEB_", "OLLAMA_"))}
        systems = [
            ("ollamaweb", "key auth + quotas (limits set) + request log, SQLite", ours.url, "ollama",
             {"key": ours.db.api_key, "sample": ours.worker_pids()}),
        ]  # fmt: skip
        for make in (peers.litellm, peers.portkey):
            try:
                peer = make(free_port(), self.upstream_port, env, self.log)
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
                self.log(f"peers: {make.__name__} could not be installed: {exc}")
                self.notes.append(f"peers: {make.__name__} could not be installed: {str(exc)[:300]}")
                continue
            proc = Proc(peer.name.split()[0].lower(), peer.cmd, peer.env, self.tmp, cwd=peer.cwd)
            self.procs.append(proc)
            wait_http(proc, peer.port, peer.ready_path, timeout=120)
            url = f"http://127.0.0.1:{peer.port}/v1/chat/completions"
            systems.append((peer.name, peer.what, url, peer.api,
                            {"key": peer.key, "headers": peer.headers, "sample": proc.pids()}))  # fmt: skip
        rows, runs = [], {}
        upstream = f"http://127.0.0.1:{self.upstream_port}"

        def direct(api: str, label: str, **kwargs) -> dict:
            if api == "ollama":
                return self.direct(label, **kwargs)
            key = "openai-" + label
            if key not in self.direct_cache:
                self.direct_cache[key] = self.load(f"{upstream}/v1/chat/completions", api="openai", **kwargs)
            return self.direct_cache[key]

        n_fast = p.stream_tokens_fast
        for name, what, url, api, extra in systems:
            self.log(f"peers: {name}")
            load = functools.partial(self.load, url, api="openai", **extra)
            # First requests import and set up lazily (LiteLLM's take seconds): not measured.
            load(model="bench-n16", concurrency=2, requests_per_conn=3)
            load(model="bench-n16", concurrency=2, requests_per_conn=3, stream=True, expect_tokens=16)

            r = runs[name] = {"what": what, "upstream_api": api}
            r["c1"], d1 = (
                load(model="bench-n16", concurrency=1),
                direct(api, "chat-c1", model="bench-n16", concurrency=1),
            )
            r["c"], dc = (
                load(model="bench-n16", concurrency=c),
                direct(api, f"chat-c{c}", model="bench-n16", concurrency=c),
            )
            r["idle"], di = load(**self.idle_load()), direct(api, "chat-idle", **self.idle_load())
            r["ttft"], dt = (load(model="bench-n16", concurrency=1, stream=True, expect_tokens=16),
                             direct(api, "ttft", model="bench-n16", concurrency=1, stream=True, expect_tokens=16))  # fmt: skip
            fast = dict(model=f"bench-tps2000-n{n_fast}", concurrency=1, stream=True, expect_tokens=n_fast)
            r["fast"], df = load(**fast), direct(api, f"bench-tps2000-n{n_fast}", **fast)
            r["open"] = load(**self.burst_load())
            dm = direct(api, "open-streams", sample=[self.upstream.pid], **self.burst_load())
            for q in ("p50", "p99"):
                rows.append(row(f"{name}: latency c=1 {q}", "ms", pick(r["c1"], "latency_ms", q),
                                pick(d1, "latency_ms", q)))  # fmt: skip
            rows.append(row(f"{name}: latency, requests {p.idle_gap_ms / 1000:g} s apart, p50", "ms",
                            pick(r["idle"], "latency_ms", "p50"), pick(di, "latency_ms", "p50")))  # fmt: skip
            rows.append(row(f"{name}: throughput c={c}", "req/s", r["c"]["rps"], dc["rps"], overhead=False))
            rows.append(row(f"{name}: CPU per request c={c}", "ms", cpu_per(r["c"], 1) * 1000,
                            cpu_per(dc, 1, "upstream") * 1000, overhead=False))  # fmt: skip
            rows.append(row(f"{name}: TTFT c=1 p50", "ms", pick(r["ttft"], "ttft_ms", "p50"),
                            pick(dt, "ttft_ms", "p50")))  # fmt: skip
            rows.append(row(f"{name}: stream time ({n_fast} tokens at 2,000/s) p50", "ms",
                            pick(r["fast"], "stream_duration_ms", "p50"), pick(df, "stream_duration_ms", "p50")))  # fmt: skip
            rows.append(row(f"{name}: CPU per token at 2,000 tok/s", "µs", cpu_per(r["fast"], n_fast) * 1e6,
                            cpu_per(df, n_fast, "upstream") * 1e6, overhead=False))  # fmt: skip
            rows += self.burst_rows(f"{name}: ", r["open"], dm, brief=True)
            rows.append(row(f"{name}: peak RSS", "MB", r["open"]["server"]["peak_rss_kb"] / 1024, None, overhead=False))
        return {"title": "Peers, one process each, same fake upstream: " + "; ".join(
                    f"{name}: {what}" for name, what, *_ in systems), "rows": rows, "runs": runs}  # fmt: skip

    def scenario_servers(self, gateways: list[Gateway]) -> dict:
        c = self.profile.throughput_concurrency
        direct1 = self.direct("chat-c1", model="bench-n16", concurrency=1)
        direct_c = self.direct(f"chat-c{c}", model="bench-n16", concurrency=c)
        rows, runs = [], {}
        for gateway in gateways:
            lat = self.gw(gateway, model="bench-n16", concurrency=1)
            thr = self.gw(gateway, model="bench-n16", concurrency=c)
            runs[gateway.kind] = {"c1": lat, f"c{c}": thr}
            rows.append(row(f"{gateway.kind}: latency c=1 p50", "ms", lat["latency_ms"]["p50"],
                            direct1["latency_ms"]["p50"]))  # fmt: skip
            rows.append(row(f"{gateway.kind}: latency c=1 p99", "ms", lat["latency_ms"]["p99"],
                            direct1["latency_ms"]["p99"]))  # fmt: skip
            rows.append(row(f"{gateway.kind}: throughput c={c}", "req/s", thr["rps"], direct_c["rps"], overhead=False))
            rows.append(row(f"{gateway.kind}: errors", "", lat["errors"] + thr["errors"],
                            direct1["errors"] + direct_c["errors"], overhead=False))  # fmt: skip
        return {"title": "ASGI servers, one process each (scenarios 1 and 2)", "rows": rows, "runs": runs}

    # the run

    def run(self) -> dict:
        only = set(self.args.only.split(",")) if self.args.only else set(SCENARIOS)
        if self.args.peers:
            only.add("peers")
        started = time.time()
        machine = machine_info()
        self.log(f"machine: {machine['cpu_model']}, {machine['cpus']} CPUs, load average {machine['loadavg_start']}")
        extra_env = dict(item.split("=", 1) for item in self.args.env or ())
        sqlite_db = Database("sqlite", f"sqlite:///{self.tmp / 'bench.sqlite3'}", extra_env=extra_env)
        uv1 = Gateway("uvicorn-1", "uvicorn", 1, sqlite_db)
        uv2 = Gateway("uvicorn-2", "uvicorn", 2, sqlite_db)
        others = [Gateway("granian-1", "granian", 1, sqlite_db), Gateway("daphne-1", "daphne", 1, sqlite_db)]
        pg_gateways: list[Gateway] = []
        baseline = self.extract_baseline() if self.args.baseline else None
        suffix = " before"  # scenario keys and gateway names of the baseline's runs
        try:
            self.start_upstream()
            self.log(f"upstream on port {self.upstream_port}; measuring it alone first")
            self.results["0"] = self.scenario_upstream()
            # Databases are prepared, and every server started, in parallel: idle servers cost nothing.
            pg_result: dict = {}
            pg_thread = None
            if "5" in only:
                pg_thread = threading.Thread(target=lambda: pg_result.update(self.prepare_postgres()))
                pg_thread.start()
            prepare_database(sqlite_db, self.upstream_port)
            self.log("SQLite database ready")
            no_metrics = Gateway("uvicorn-1-no-metrics", "uvicorn", 1, sqlite_db, extra_env={"OLLAMAWEB_METRICS": "0"})
            gateways = [uv1] + ([uv2] if "2" in only else []) + (others if "servers" in only else [])
            gateways += [no_metrics] if "metrics" in only else []
            if pg_thread is not None:
                pg_thread.join()
                self.log(f"PostgreSQL database: {'ready' if pg_result.get('db') else pg_result.get('skipped')}")
                if pg_result.get("db"):
                    pg_gateways = [
                        Gateway("uvicorn-1-pg", "uvicorn", 1, pg_result["db"]),
                        Gateway("uvicorn-2-pg", "uvicorn", 2, pg_result["db"]),
                    ]
            # With --baseline, every gateway of scenarios 1-5 has a twin running the baseline's tree;
            # each measurement runs on both, one after the other (same machine state, same upstream).
            variants = [("", uv1, uv2, pg_gateways)]
            if baseline is not None:
                # The baseline gets its own databases (SQLite, PostgreSQL and a Redis database), migrated
                # by its own tree: its migrations and cached formats may differ.
                base_db = Database("sqlite", f"sqlite:///{self.tmp / 'baseline.sqlite3'}", extra_env=extra_env)
                prepare_database(base_db, self.upstream_port, baseline)
                twins = [g.twin(baseline, suffix, base_db) for g in (uv1, uv2)]
                if pg_gateways:
                    base_pg = self.prepare_postgres(f"{PG_DB}_baseline", BASELINE_REDIS_DB, baseline)
                    if base_pg.get("db") is None:
                        raise RuntimeError(f"baseline's PostgreSQL database: {base_pg['skipped']}")
                    twins += [g.twin(baseline, suffix, base_pg["db"]) for g in pg_gateways]
                variants.append((suffix, twins[0], twins[1], twins[2:]))
                gateways += twins[:2] if "2" in only else twins[:1]
                pg_gateways = pg_gateways + twins[2:]
            self.log(f"starting {', '.join(g.name for g in gateways + pg_gateways)}")
            self.start_gateways(gateways + pg_gateways)
            # With --rounds N, scenarios 1-4 run N rounds, and each figure is the median of the rounds;
            # with --baseline too, the trees' order is swapped each round (ours first, then the baseline's).
            rounds: dict[str, list[dict]] = {}
            for number in range(self.rounds):
                order = variants if number % 2 == 0 else variants[::-1]
                if self.rounds > 1:
                    self.log(f"round {number + 1} of {self.rounds}")
                for label, g1, _g2, _ in order:
                    if "1" in only:
                        self.log(f"scenario 1{label}: latency overhead")
                        rounds.setdefault("1" + label, []).append(self.scenario_1(g1))
                for label, g1, g2, _ in order:
                    if "2" in only:
                        self.log(f"scenario 2{label}: throughput, SQLite")
                        title = (
                            "Throughput, non-streaming chat, key auth + quotas + request logging on, SQLite (uvicorn)"
                        )
                        rounds.setdefault("2" + label, []).append(self.scenario_2(g1, g2, title))
                for label, g1, _g2, _ in order:
                    if "3" in only:
                        self.log(f"scenario 3{label}: streaming")
                        rounds.setdefault("3" + label, []).append(self.scenario_3(g1))
                for label, g1, _g2, _ in order:
                    if "4" in only:
                        self.log(f"scenario 4{label}: {self.profile.open_streams} open streams")
                        rounds.setdefault("4" + label, []).append(self.scenario_4(g1))
            self.results.update({key: median_of_rounds(runs) for key, runs in rounds.items()})
            if "protocols" in only:
                self.log("protocols: OpenAI chat, native, Responses and Anthropic through the gateway")
                self.results["protocols"] = self.scenario_protocols(uv1)
            if "servers" in only:
                self.log("ASGI servers: uvicorn, granian, daphne")
                self.results["servers"] = self.scenario_servers([uv1, *others])
            if "metrics" in only:
                self.log("metrics: the same server with Prometheus metrics on and off")
                self.results["metrics"] = self.scenario_metrics(uv1, no_metrics)
            if "peers" in only:
                self.log("peers: LiteLLM and Portkey beside ours")
                self.results["peers"] = self.scenario_peers(uv1)
            if "5" in only:
                title = "Throughput as in (2) with PostgreSQL + Redis (uvicorn)"
                if pg_gateways:
                    for label, _, _, pg in variants:
                        self.log(f"scenario 5{label}: PostgreSQL + Redis")
                        self.results["5" + label] = self.scenario_2(*pg, title)
                        self.results["5" + label]["database"] = "PostgreSQL (psycopg pool) + Redis cache"
                    if "4" in only:
                        for label, _, _, pg in variants:
                            self.log(
                                f"scenario 4-pg{label}: {self.profile.open_streams} open streams, PostgreSQL + Redis"
                            )
                            self.results["4-pg" + label] = self.scenario_4(pg[0])
                            self.results["4-pg" + label]["title"] += ", PostgreSQL + Redis"
                else:
                    self.log(f"scenario 5 skipped: {pg_result.get('skipped')}")
                    self.results["5"] = {"title": title, "skipped": pg_result.get("skipped"), "rows": [], "runs": {}}
        finally:
            for proc in reversed(self.procs):
                proc.stop()
            for name in self.pg_databases if not self.args.keep_db else ():
                self.psql(PG_ADMIN_DB, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if not self.args.keep_tmp:
                shutil.rmtree(self.tmp, ignore_errors=True)
        machine["loadavg_end"] = os.getloadavg()
        if self.speeds:
            machine["reference_ms"] = {
                "min": min(self.speeds),
                "median": median(sorted(self.speeds)),
                "max": max(self.speeds),
            }
        if self.others:
            machine["other_cpu_percent_mean"] = sum(self.others) / len(self.others)
            machine["other_cpu_percent_max"] = max(self.others)
            if machine["other_cpu_percent_mean"] > 15:
                self.notes.append(
                    f"Other processes used {machine['other_cpu_percent_mean']:.0f}% of a CPU on average during the "
                    f"load runs (up to {machine['other_cpu_percent_max']:.0f}%): the machine was shared, the numbers "
                    "are noisy (thread hops suffer most: each one waits for a CPU)."
                )
        return {
            "generated_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "quick": self.profile.quick,
            "elapsed_s": time.time() - started,
            "machine": machine,
            "profile": self.profile.__dict__,
            "baseline": self.args.baseline,
            "scenarios": self.results,
            "targets": targets(self.results, self.profile),
            "notes": self.notes,
        }

    def extract_baseline(self) -> Path:
        """The baseline commit's tree (git archive) in the temporary folder."""
        root = self.tmp / "baseline"
        root.mkdir()
        archive = subprocess.run(["git", "archive", self.args.baseline], cwd=ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(root)], input=archive.stdout, check=True)
        self.log(f"baseline {self.args.baseline} extracted to {root}")
        return root

    def scenario_upstream(self) -> dict:
        c = self.profile.throughput_concurrency
        rows, runs = [], {}
        for label, kwargs in (("c1", {"concurrency": 1}), (f"c{c}", {"concurrency": c})):
            run = self.direct(f"chat-{label}", model="bench-n16", **kwargs)
            runs[label] = run
            rows.append(row(f"direct {label}: req/s", "req/s", None, run["rps"], overhead=False))
            rows.append(row(f"direct {label}: latency p50", "ms", None, run["latency_ms"]["p50"], overhead=False))
            rows.append(
                row(f"direct {label}: upstream CPU %", "%", None, run["upstream"]["cpu_percent"], overhead=False)
            )
            rows.append(row(f"direct {label}: load generator CPU %", "%", None, run["loadgen_cpu_percent"],
                            overhead=False))  # fmt: skip
        return {"title": "The fake upstream alone (load generator -> /api/chat), for reference",
                "rows": rows, "runs": runs}  # fmt: skip

    def prepare_postgres(self, name: str = PG_DB, redis_db: int = BENCH_REDIS_DB, root: Path = ROOT) -> dict:
        """{"db": Database} with a fresh database migrated by `root`'s tree and a key, and an empty
        Redis database, or {"skipped": why}."""
        why = self.postgres_available()
        if why:
            return {"skipped": why}
        why = empty_redis_database(redis_db)
        if why:
            return {"skipped": why}
        created = self.psql(PG_ADMIN_DB, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
        if created.returncode != 0:
            return {"skipped": f"could not create database {name}: {created.stderr.strip()}"}
        self.pg_databases.append(name)
        db = Database(
            "postgresql",
            f"postgres://{PG_HOST}:{PG_PORT}/{name}",
            f"redis://{REDIS_HOST}:{REDIS_PORT}/{redis_db}",
            extra_env=dict(item.split("=", 1) for item in self.args.env or ()),
        )
        try:
            prepare_database(db, self.upstream_port, root)
        except RuntimeError as exc:
            return {"skipped": f"could not migrate {name}: {exc}"}
        return {"db": db}


# --- results -----------------------------------------------------------------------------


def cpu_per(run: dict, tokens: int, who: str = "server") -> float:
    """CPU seconds of `who` per request (tokens=1) or per token, over every request sent (warm-up included)."""
    sent = run.get("sent_including_warmup") or 0
    return run[who]["cpu_s"] / (sent * tokens) if sent and run.get(who) else float("nan")


def empty_redis_database(number: int) -> str:
    """'' once Redis database `number` is empty (FLUSHDB), else why not."""
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=5) as sock:
            sock.sendall(f"SELECT {number}\r\nFLUSHDB\r\n".encode())
            replies = b""
            while replies.count(b"\r\n") < 2 and (data := sock.recv(64)):
                replies += data
    except OSError as exc:
        return f"could not empty Redis database {number}: {exc}"
    return "" if replies == b"+OK\r\n+OK\r\n" else f"could not empty Redis database {number}: {replies!r}"


def other_cpu_per(run: dict) -> float:
    """CPU seconds per request of everyone but the gateway (o): the upstream, the load generator and
    the other processes, PostgreSQL and Redis among them."""
    sent = run.get("sent_including_warmup") or float("nan")
    return cpu_per(run, 1, "upstream") + (run["loadgen_cpu_s"] + run.get("other_cpu_s", 0.0)) / sent


def scaling_ceiling(run: dict, workers: int, more_workers: int) -> float | None:
    """The most `more_workers` processes can serve over the `workers` of `run`: more_workers/workers
    times as much, unless the machine's N CPUs are full first, at N/(g + o) requests a second (g, o:
    the CPU per request of the gateway and of everyone else in `run`). An estimate from `run`'s
    costs: under more load they can fall (fuller batches), and the ratio measured can exceed it."""
    g, o = cpu_per(run, 1), other_cpu_per(run)
    if not g > 0 or not o >= 0 or not run.get("rps"):
        return None
    return min(more_workers / workers, (os.cpu_count() or 1) / ((g + o) * run["rps"]))


def cpus_in_use_percent(run: dict, gateway: bool = True) -> float:
    """How much of the machine's CPUs every process used during `run` (100: all of them)."""
    cpu = other_cpu_per(run) + (cpu_per(run, 1) if gateway else 0.0)
    return 100.0 * cpu * run["rps"] / (os.cpu_count() or 1)


def reference_ms(repeats: int = 3) -> float:
    """How long a fixed piece of pure-Python work (dict stores and int-to-str conversions, the stuff
    of a request's handling) takes this machine right now, in ms: the best of `repeats`. On a shared
    virtual machine the same work can take twice as long from one minute to the next, and so does
    everything a load run measures meanwhile (bench/README.md, thirteenth pass)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        table = {}
        for i in range(REFERENCE_ITERATIONS):
            table[i & 1023] = str(i)
        best = min(best, time.perf_counter() - started)
    return best * 1000


def speed_line(machine: dict) -> list[str]:
    """The report's line on how fast the machine was across the load runs (reference_ms)."""
    speed = machine.get("reference_ms")
    if not speed:
        return []
    return [
        f"Machine speed: a fixed pure-Python loop took {fmt(speed['min'])}–{fmt(speed['max'])} ms before the load "
        f"runs (median {fmt(speed['median'])} ms); a run measured while it took longer was slowed about as much "
        "(`reference_ms` of each run in the JSON)."
    ]


def cpu_us(result: dict) -> float | None:
    """Server CPU per request served (warm-up included), µs."""
    served = result.get("sent_including_warmup") or 0
    return 1e6 * result["server"]["cpu_s"] / served if served and result.get("server") else None


def row(metric: str, unit: str, gateway, direct, overhead=True) -> dict:
    ratio = (
        gateway / direct if isinstance(gateway, int | float) and isinstance(direct, int | float) and direct else None
    )
    out = {"metric": metric, "unit": unit, "gateway": gateway, "direct": direct, "ratio": ratio}
    if overhead and isinstance(gateway, int | float) and isinstance(direct, int | float):
        out["overhead"] = gateway - direct
    return out


def pick(run: dict, summary: str, q: str):
    """A percentile of a load run's summary, None when nothing was measured."""
    return (run.get(summary) or {}).get(q)


def median_of_rounds(rounds: list[dict]) -> dict:
    """One scenario's result from several rounds: each row's gateway and direct figures are the
    medians of the rounds' (the direct runs are shared, so only the gateway's vary); every round's
    rows stay in "rounds"."""
    if len(rounds) == 1:
        return rounds[0]
    combined = dict(rounds[0], rounds=[r["rows"] for r in rounds], runs=[r["runs"] for r in rounds])
    combined["rows"] = []
    for i, first in enumerate(rounds[0]["rows"]):
        values = {}
        for side in ("gateway", "direct"):
            figures = [r["rows"][i][side] for r in rounds]
            numbers = sorted(f for f in figures if isinstance(f, int | float))
            values[side] = median(numbers) if len(numbers) == len(figures) else first[side]
        combined["rows"].append(row(first["metric"], first["unit"], values["gateway"], values["direct"],
                                    overhead="overhead" in first))  # fmt: skip
    return combined


def median(numbers: list) -> float:
    """Of sorted numbers; of an even count, the mean of the middle two (of two rounds: not the larger)."""
    middle = len(numbers) // 2
    return numbers[middle] if len(numbers) % 2 else (numbers[middle - 1] + numbers[middle]) / 2


def find(results: dict, scenario: str, metric: str) -> dict | None:
    for entry in results.get(scenario, {}).get("rows", ()):
        if entry["metric"] == metric:
            return entry
    return None


def targets(results: dict, profile: Profile) -> list[dict]:
    """The issue's targets, each with the measured value and whether it is met."""
    c = profile.throughput_concurrency
    checks = []

    def check(name, entry, key, limit, better="lower", unit=""):
        value = entry.get(key) if entry else None
        met = None if value is None else (value <= limit if better == "lower" else value >= limit)
        checks.append({"target": name, "value": value, "limit": limit, "unit": unit, "met": met})

    check("overhead p50 at c=1 <= 2 ms", find(results, "1", "latency c=1 p50"), "overhead", 2.0, unit="ms")
    check("overhead p99 at c=1 <= 10 ms", find(results, "1", "latency c=1 p99"), "overhead", 10.0, unit="ms")
    check(f"throughput, 2 processes, SQLite, c={c} >= 600 req/s", find(results, "2", f"throughput c={c}, 2 proc"),
          "gateway", 600.0, "higher", "req/s")  # fmt: skip
    check(f"throughput, 2 processes, PostgreSQL + Redis, c={c} >= 600 req/s",
          find(results, "5", f"throughput c={c}, 2 proc"), "gateway", 600.0, "higher", "req/s")  # fmt: skip
    check("TTFT overhead p50 <= 3 ms", find(results, "3", "TTFT c=1 p50"), "overhead", 3.0, unit="ms")
    relay = find(results, "3", f"2000 tok/s upstream: stream time ({profile.stream_tokens_fast} tokens) p50")
    cost = None
    if relay and relay.get("overhead") is not None and relay["direct"]:
        cost = 100.0 * relay["overhead"] / relay["direct"]
    check("streaming relay cost at 2,000 tok/s <= 5% of direct time", {"v": cost}, "v", 5.0, unit="%")
    n = profile.open_streams
    check(f"{n} concurrent streams: zero errors", find(results, "4", f"{n} streams: errors"), "gateway", 0)
    check(f"{n} concurrent streams: < 100 KB per stream", find(results, "4", f"{n} streams: RSS per stream"),
          "gateway", 100.0, unit="KB")  # fmt: skip
    return checks


def fmt(value, unit="") -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if unit in ("ms",) or abs(value) < 10:
        return f"{value:,.2f}"
    return f"{value:,.0f}"


def table(report: dict) -> str:
    machine = report["machine"]
    lines = [
        f"ollamaweb benchmark, {report['generated_at']}{' (--quick: checks only that it works)' if report['quick'] else ''}",
        "",
        f"Machine: {machine['cpu_model']}, {machine['cpus']} CPUs, {machine['memory_gb']} GB; "
        f"Python {machine['python']}; {machine['platform']}; load average {fmt_load(machine['loadavg_start'])} "
        f"at start, {fmt_load(machine['loadavg_end'])} at end; CPU used by other processes during load runs: "
        f"{fmt(machine.get('other_cpu_percent_mean'))}% of a CPU on average, {fmt(machine.get('other_cpu_percent_max'))}% "
        "at most.",
        *speed_line(machine),
        "Versions: " + ", ".join(f"{k} {v}" for k, v in machine["packages"].items()),
        "",
        "| scenario | metric | gateway | direct | gateway/direct | overhead |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for key, scenario in report["scenarios"].items():
        if scenario.get("skipped"):
            lines.append(f"| {key} | skipped: {scenario['skipped']} | | | | |")
            continue
        for entry in scenario["rows"]:
            unit = entry["unit"]
            suffix = f" {unit}" if unit and unit not in ("",) else ""
            overhead = entry.get("overhead")
            lines.append(
                f"| {key} | {entry['metric']} | {fmt(entry['gateway'], unit)}{suffix if entry['gateway'] is not None else ''}"
                f" | {fmt(entry['direct'], unit)}{suffix if entry['direct'] is not None else ''}"
                f" | {fmt(entry['ratio']) + '×' if entry['ratio'] is not None else '–'}"
                f" | {(('+' if overhead >= 0 else '') + fmt(overhead, unit) + suffix) if overhead is not None else ''} |"
            )
    lines += ["", "Scenarios:"]
    lines += [f"- {key}: {scenario['title']}" for key, scenario in report["scenarios"].items()]
    lines += ["", "| target | measured | met |", "|---|---:|---|"]
    for target in report["targets"]:
        value = target["value"]
        met = {True: "yes", False: "**no**", None: "not measured"}[target["met"]]
        lines.append(
            f"| {target['target']} | {fmt(value, target['unit'])} {target['unit'] if value is not None else ''} | {met} |"
        )
    if report["notes"]:
        lines += ["", *[f"Note: {note}" for note in report["notes"]]]
    return "\n".join(lines) + "\n"


def fmt_load(load) -> str:
    return "/".join(f"{x:.2f}" for x in load) if load else "?"


def machine_info() -> dict:
    cpu_model = platform.processor() or "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    memory_gb = None
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    packages = {}
    for name in ("Django", "djangorestframework", "channels", "uvicorn", "uvloop", "httptools", "granian", "daphne",
                 "httpx", "orjson", "psycopg", "psycopg-pool", "redis"):  # fmt: skip
        with contextlib.suppress(metadata.PackageNotFoundError):
            packages[name] = metadata.version(name)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return {
        "cpu_model": cpu_model,
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "memory_gb": memory_gb,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "packages": packages,
        "git_commit": commit.stdout.strip() or None,
        "loadavg_start": os.getloadavg(),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="Tiny sizes: checks that everything works (seconds).")
    parser.add_argument("--json", default=str(BENCH / "results" / "latest.json"), help="Where to write the JSON.")
    parser.add_argument("--md", help="Where to write the Markdown table (default: the JSON path with .md).")
    parser.add_argument("--only", help=f"Comma-separated scenarios to run, of {','.join(SCENARIOS)} (default all).")
    parser.add_argument(
        "--repeat", type=int, default=1, help="Run each measurement N times and keep the best (for a busy machine)."
    )
    parser.add_argument("--keep-tmp", action="store_true", help="Keep the temporary directory (logs, SQLite).")
    parser.add_argument(
        "--env", action="append", metavar="NAME=VALUE", help="An environment variable for the gateways (repeatable)."
    )
    parser.add_argument(
        "--baseline",
        metavar="REF",
        help="Also run scenarios 1-5 on this git commit's tree, each right after the current tree's "
        "(rows 'N before'): before/after in one run.",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="Run scenarios 1-4 N times (with --baseline, alternating which tree goes first) and report "
        "each figure's median.",
    )
    parser.add_argument(
        "--peers",
        action="store_true",
        help="Also run LiteLLM's proxy and Portkey's gateway (installed on first use into bench/.peers/ "
        "from PyPI and npm) on the same upstream: the 'peers' scenario (alone: --peers --only peers).",
    )
    parser.add_argument("--keep-db", action="store_true", help="Keep the PostgreSQL database after the run.")
    args = parser.parse_args(argv)
    bench = Bench(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    report = bench.run()
    text = table(report)
    print(text)
    json_path = Path(args.json)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    md_path = Path(args.md) if args.md else json_path.with_suffix(".md")
    md_path.write_text(text)
    print(f"wrote {json_path} and {md_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
