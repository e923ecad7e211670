"""Memory of open streams, by prompt size: what a fresh gateway process grows by per stream.

    python bench/stream_memory.py [--streams 1000] [--prompt-bytes 27,20000] [--tokens 100] [--rounds 2]
        [--baseline COMMIT] [--json out.json]

For each prompt size, a fresh uvicorn process (SQLite, the bench key with quotas on) serves one
warm-up stream, then N streams that open at once (100 tokens at 10 tokens/s from the fake
upstream, as scenario 4 of bench/run.py); the figure is its peak RSS minus its RSS before the
burst, over the streams open at once. A fresh process for each burst, because a process that
already served a burst reuses the memory it freed and grows less (scenario 4 of the full run
comes after scenarios 1-3 and shows that). With --baseline, the same on that commit's tree, the
trees alternating round by round; the median of the rounds is reported.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import run as harness


def burst(bench: harness.Bench, root: Path, streams: int, prompt_bytes: int, tokens: int) -> dict:
    db = harness.Database("sqlite", f"sqlite:///{bench.tmp}/memory-{len(bench.procs)}.sqlite3")
    harness.prepare_database(db, bench.upstream_port, root=root)
    gateway = harness.Gateway("uvicorn", "uvicorn", 1, db, root=root)
    bench.start_gateways([gateway])
    try:
        bench.gw(gateway, model="bench-tps10-n3", concurrency=1, stream=True, expect_tokens=3, requests_per_conn=1)
        run = bench.gw(gateway, model=f"bench-tps10-n{tokens}", concurrency=streams, stream=True, expect_tokens=tokens,
                       requests_per_conn=1, load_args=("--prompt", "x" * prompt_bytes))  # fmt: skip
    finally:
        bench.stop_gateways([gateway])
    server = run["server"]
    return {
        "errors": run["errors"],
        "open_at_once": run["max_open_responses"],
        "kb_per_stream": (server["peak_rss_kb"] - server["baseline_rss_kb"]) / max(1, run["max_open_responses"]),
        "ttft_p99_ms": (run["ttft_ms"] or {}).get("p99"),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--prompt-bytes", default="27,20000", help="Comma-separated prompt sizes.")
    parser.add_argument("--tokens", type=int, default=100, help="Tokens per stream, at 10 a second.")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--baseline", help="A commit to measure too (its tree, git archive).")
    parser.add_argument("--json", help="Write the results here too.")
    args = parser.parse_args(argv)
    bench = harness.Bench(argparse.Namespace(quick=False, baseline=args.baseline, rounds=args.rounds, repeat=1))
    trees = {"this tree": harness.ROOT}
    if args.baseline:
        trees = {f"baseline {args.baseline}": bench.extract_baseline(), **trees}
    sizes = [int(size) for size in args.prompt_bytes.split(",")]
    results: dict = {size: {tree: [] for tree in trees} for size in sizes}
    bench.start_upstream()
    try:
        for round_ in range(max(1, args.rounds)):
            order = list(trees.items()) if round_ % 2 == 0 else list(reversed(trees.items()))
            for size in sizes:
                for tree, root in order:
                    bench.log(f"round {round_ + 1}: {args.streams} streams, {size:,}-byte prompt, {tree}")
                    results[size][tree].append(burst(bench, root, args.streams, size, args.tokens))
    finally:
        for proc in bench.procs:
            proc.stop()
    print(f"| prompt | {' | '.join(f'{tree}: KB per stream · TTFT p99' for tree in trees)} |")
    print(f"|---|{'---|' * len(trees)}")
    for size in sizes:
        cells = []
        for tree in trees:
            runs = results[size][tree]
            errors = sum(run["errors"] for run in runs)
            kb = harness.median(sorted(run["kb_per_stream"] for run in runs))
            ttft = harness.median(sorted(run["ttft_p99_ms"] or 0.0 for run in runs))
            cells.append(f"{kb:,.0f} KB · {ttft:,.0f} ms" + (f" ({errors} errors)" if errors else ""))
        print(f"| {size:,} bytes | {' | '.join(cells)} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"streams": args.streams, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
