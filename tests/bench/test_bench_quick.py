"""The benchmark harness (bench/run.py) works end to end: `--quick` runs every scenario at tiny sizes;
bench/idle_cost.py and bench/inprocess.py measure what they say."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = {"1", "2", "3", "4", "5", "servers", "protocols"}
PROTOCOLS = {"OpenAI chat", "native", "Responses", "Anthropic"}


def is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_bench_quick_runs_every_scenario(tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=570,
    )
    assert result.returncode == 0, f"bench/run.py --quick failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    report = json.loads(out.read_text())
    assert report["quick"] is True
    assert report["machine"]["cpus"] and report["machine"]["python"] and report["machine"]["packages"]["Django"]
    speed = report["machine"]["reference_ms"]
    assert 0 < speed["min"] <= speed["median"] <= speed["max"], speed
    assert SCENARIOS <= set(report["scenarios"]), sorted(report["scenarios"])
    for key in SCENARIOS:
        scenario = report["scenarios"][key]
        if scenario.get("skipped"):
            # Only PostgreSQL + Redis may be missing on a machine, and the reason must be given.
            assert key == "5" and isinstance(scenario["skipped"], str), scenario
            continue
        assert scenario["rows"], key
        for row in scenario["rows"]:
            assert is_number(row["gateway"]) and is_number(row["direct"]), (key, row)
            if row["metric"].endswith("errors") or row["metric"].startswith("errors"):
                assert row["gateway"] == 0 and row["direct"] == 0, (key, row)
    check_protocols(report["scenarios"]["protocols"])
    assert {target["target"] for target in report["targets"]}, "no targets evaluated"
    table = out.with_suffix(".md").read_text()
    assert "| scenario | metric | gateway | direct |" in table
    assert "Machine speed: a fixed pure-Python loop took" in table
    assert "gateway/direct" in result.stdout


def check_protocols(scenario: dict):
    """Every protocol was measured, and every run of it (and of the upstream) counted exactly the
    tokens the fake sent: a protocol that repeats its text (Responses' closing events) is not counted twice."""
    assert {row["metric"].split(":")[0] for row in scenario["rows"]} == PROTOCOLS
    for name in PROTOCOLS:  # scenario 1's requests a second apart and scenario 4's burst, per protocol
        metrics = [row["metric"] for row in scenario["rows"] if row["metric"].startswith(name + ":")]
        assert any(" s apart, p50" in metric for metric in metrics), metrics
        assert any(" streams: TTFT p99" in metric for metric in metrics), metrics
    assert set(scenario["runs"]) == PROTOCOLS | {"direct"}
    for name, runs in scenario["runs"].items():
        assert set(runs) == set(scenario["tokens_per_reply"]), name
        for label, run in runs.items():
            expected = scenario["tokens_per_reply"][label] * run["ok"]
            assert run["ok"] > 0 and run["errors"] == 0, (name, label, run["error_samples"])
            assert run["tokens"] == expected, (name, label, run["tokens"], expected)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_rounds_without_a_baseline_give_each_figure_s_median(tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--only", "1", "--rounds", "3", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert result.returncode == 0, f"bench/run.py failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    scenario = json.loads(out.read_text())["scenarios"]["1"]
    assert len(scenario["rounds"]) == 3 and len(scenario["runs"]) == 3
    p50s = sorted(runs["c1"]["gateway"]["latency_ms"]["p50"] for runs in scenario["runs"])
    (p50,) = [row["gateway"] for row in scenario["rows"] if row["metric"] == "latency c=1 p50"]
    assert p50 == p50s[1]


def test_idle_cost_measures_both_kinds_of_work(capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import idle_cost

    assert idle_cost.main(["--objects", "2000", "--touches", "100", "--pauses", "0,0.001"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[1:] == ["back", "to", "back", "after", "0.001", "s"]
    assert [line.split("(")[0].strip() for line in lines[1:]] == ["small", "scattered"]
    assert all(len(line.split(" ms")) == 3 for line in lines[1:])  # a time for each pause


def test_rounds_are_combined_by_their_median(monkeypatch):
    """Of two rounds, the mean of both (not the larger); of three, the middle one."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import run as harness

    def rounds(*figures):
        return [{"rows": [harness.row("TTFT p99", "ms", figure, 100.0)], "runs": {}} for figure in figures]

    assert harness.median_of_rounds(rounds(560.0, 880.0))["rows"][0]["gateway"] == 720.0
    assert harness.median_of_rounds(rounds(880.0, 560.0, 600.0))["rows"][0]["gateway"] == 600.0
    assert harness.median_of_rounds(rounds(560.0, 880.0))["rows"][0]["overhead"] == 620.0


def test_the_scaling_ceiling_is_what_the_cpus_leave_to_the_workers(monkeypatch):
    """Two workers on two CPUs shared with the upstream and the load generator: 2g/(g + o) for a
    worker that its own CPU held (g per request, o of everyone else's)."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import run as harness

    monkeypatch.setattr(harness.os, "cpu_count", lambda: 2)
    # 10,000 requests: the gateway 4.9 s of CPU (g = 0.49 ms), the upstream 1.1 s and the load generator 0.8 s (o = 0.19 ms)
    run = {"sent_including_warmup": 10_000, "server": {"cpu_s": 4.9}, "upstream": {"cpu_s": 1.1}, "loadgen_cpu_s": 0.8,
           "rps": 1 / 0.00049}  # fmt: skip
    assert harness.scaling_ceiling(run, 1, 2) == pytest.approx(2 * 0.49 / (0.49 + 0.19))
    assert harness.cpus_in_use_percent(run) == pytest.approx(100 * (0.49 + 0.19) / 0.49 / 2)
    assert harness.cpus_in_use_percent(run, gateway=False) == pytest.approx(100 * 0.19 / 0.49 / 2)
    monkeypatch.setattr(harness.os, "cpu_count", lambda: 8)  # CPUs to spare: the workers' own CPU is the limit
    assert harness.scaling_ceiling(run, 1, 2) == pytest.approx(2.0)


def test_the_scaling_ceiling_counts_the_cpu_of_the_stores(monkeypatch):
    """PostgreSQL and Redis (the run's other processes) share the CPUs too: their CPU is part of o."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import run as harness

    monkeypatch.setattr(harness.os, "cpu_count", lambda: 2)
    # As above, and the stores' servers 0.9 s of CPU: o = 0.28 ms
    run = {"sent_including_warmup": 10_000, "server": {"cpu_s": 4.9}, "upstream": {"cpu_s": 1.1}, "loadgen_cpu_s": 0.8,
           "other_cpu_s": 0.9, "rps": 1 / 0.00049}  # fmt: skip
    assert harness.scaling_ceiling(run, 1, 2) == pytest.approx(2 * 0.49 / (0.49 + 0.28))


def test_the_scaling_ceiling_of_a_worker_that_waited_is_higher(monkeypatch):
    """One worker busy 80 % of the time (it waited for its stores) served 0.8/g: two can serve up to
    the machine's 2/(g + o), against that rate."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import run as harness

    monkeypatch.setattr(harness.os, "cpu_count", lambda: 2)
    run = {"sent_including_warmup": 10_000, "server": {"cpu_s": 4.9}, "upstream": {"cpu_s": 1.1}, "loadgen_cpu_s": 0.8,
           "other_cpu_s": 0.9, "rps": 0.8 / 0.00049}  # fmt: skip
    assert harness.scaling_ceiling(run, 1, 2) == pytest.approx(2 * 0.49 / (0.8 * (0.49 + 0.28)))
    run["rps"] = 0.5 / 0.00049  # a worker idle half the time: twice as much, at most
    assert harness.scaling_ceiling(run, 1, 2) == pytest.approx(2.0)


def test_each_tree_is_served_as_its_own_bin_serve_serves_it(monkeypatch, tmp_path):
    """With ollamaweb's HTTP protocol where the tree has it (the baseline of --baseline may not)."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import run as harness

    assert harness.HTTP_PROTOCOL in (ROOT / "bin" / "serve").read_text()
    assert harness.uvicorn_protocol(ROOT) == harness.HTTP_PROTOCOL
    assert harness.uvicorn_protocol(tmp_path) == "httptools"
    command = harness.server_cmd("uvicorn", 8000, 1, tmp_path)
    assert command[command.index("--http") + 1] == "httptools"


def test_the_report_says_how_fast_the_machine_was(monkeypatch):
    """The probe times a fixed piece of work (more work, more time); the report gives its spread."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import run as harness

    monkeypatch.setattr(harness, "REFERENCE_ITERATIONS", 2_000)
    small = harness.reference_ms()
    monkeypatch.setattr(harness, "REFERENCE_ITERATIONS", 200_000)
    assert 0 < small < harness.reference_ms(repeats=1)
    line = harness.speed_line({"reference_ms": {"min": 18.4, "median": 19.1, "max": 37.9}})
    assert line[0].startswith("Machine speed: a fixed pure-Python loop took 18–38 ms before the load runs")
    assert "(median 19 ms)" in line[0]
    assert harness.speed_line({}) == []


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_stream_memory_measures_each_prompt_size(tmp_path):
    out = tmp_path / "memory.json"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "stream_memory.py"),
            "--streams",
            "20",
            "--tokens",
            "5",
            "--prompt-bytes",
            "27,50000",
            "--json",
            str(out),
        ],  # fmt: skip
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=270,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert [line.split("|")[1].strip() for line in result.stdout.splitlines()[2:]] == ["27 bytes", "50,000 bytes"]
    results = json.loads(out.read_text())["results"]
    for size in ("27", "50000"):
        [run] = results[size]["this tree"]
        assert run["errors"] == 0 and run["open_at_once"] == 20, run
        assert is_number(run["kb_per_stream"]) and is_number(run["ttft_p99_ms"]), run


@pytest.mark.slow
@pytest.mark.parametrize(
    ("api", "stream"),
    [("openai", False), ("ollama", False), ("responses", False), ("anthropic", False), ("responses", True)],
)
def test_inprocess_measures_each_protocol(api, stream):
    """bench/inprocess.py drives the ASGI application directly in every chat protocol: every request
    answered with a 200 (it exits 1 otherwise), and a CPU figure per request."""
    command = [
        sys.executable,
        str(ROOT / "bench" / "inprocess.py"),
        "--api",
        api,
        "--requests",
        "20",
        "--concurrency",
        "2",
    ]
    result = subprocess.run(
        command + (["--stream"] if stream else []), cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    summary = result.stdout.strip().splitlines()[-1]
    assert f"{'stream' if stream else 'non-stream'} {api} " in summary and summary.endswith("0 not 200")
    assert int(summary.split(": ")[1].split(" µs")[0]) > 0


@pytest.mark.slow
def test_timeline_marks_each_step_of_a_request():
    """bench/timeline.py: every request answered, and the median time between the path's marks, the
    admission's SQLite transaction and the write that sends the request upstream among them."""
    command = [sys.executable, str(ROOT / "bench" / "timeline.py"), "--requests", "30"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    lines = result.stdout.strip().splitlines()
    header = next(i for i, line in enumerate(lines) if "took this path" in line)
    steps = [line.split(None, 1) for line in lines[header + 1 : -1]]
    assert int(lines[header].split(" of ")[1].split()[0]) == 30
    assert any("write> -> write<" in step for _, step in steps)  # the reservation's transaction
    assert any("Connection.start>" in step for _, step in steps)
    assert all(float(micros) >= 0 for micros, _ in steps)
    assert abs(sum(float(micros) for micros, _ in steps) - float(lines[-1].split()[0])) < 1
