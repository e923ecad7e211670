"""Where one request's time goes, stage by stage: the median time between consecutive marks.

    python bench/timeline.py [--requests 3000] [--gap SECONDS] [--api openai] [--mark module:Qual.name ...]

Runs bench/inprocess.py's set-up (the fake upstream, a migrated SQLite database with a key and
quota limits) and calls the gateway's ASGI application one request at a time, back to back or
`--gap` seconds apart. The functions named by `--mark` (the request path's main steps by default)
are wrapped to note when each is entered (`name>`) and left (`name<`); for the most common order
of marks, the median time from each mark to the next is printed. Wall time, so a mark includes what
the machine did meanwhile: the upstream's own work shows in the wait for its answer (and, on a
small machine, in the write that wakes it). Each mark costs ~0.5 µs.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib
import statistics
import sys
import time
from collections import Counter, defaultdict

import inprocess

MARKS = [
    "ollamaweb.gateway.handler:APIHandler.create_request",
    "ollamaweb.gateway.views:GatewayView.dispatch",
    "ollamaweb.gateway.pipeline:Pipeline.authenticate",
    "ollamaweb.gateway.pipeline:Pipeline.read_body",
    "ollamaweb.gateway.pipeline:Pipeline.admit_generation",
    "ollamaweb.quotas.limiter:admit",
    "ollamaweb.core.loop_sqlite:write",
    "ollamaweb.gateway.pipeline:Pipeline.on_backends",
    "ollamaweb.core.http11:Connection.start",
    "ollamaweb.core.http11:Connection.data_received",
    "ollamaweb.gateway.pipeline:Pipeline.settle",
    "ollamaweb.usage.writer:LogWriter.submit",
    "ollamaweb.gateway.handler:APIHandler.send_response",
]

_marks: dict[str, float] | None = None  # the request under way: mark → time


def _note(name: str):
    if _marks is not None:
        count, key = 1, name
        while key in _marks:  # a step taken twice (a second read, a second transaction)
            count += 1
            key = f"{name}#{count}"
        _marks[key] = time.perf_counter()


def _wrap(target: str):
    module_name, _, qualname = target.partition(":")
    owner = importlib.import_module(module_name)
    *path, name = qualname.split(".")
    for part in path:
        owner = getattr(owner, part)
    function = getattr(owner, name)
    if asyncio.iscoroutinefunction(function):

        @functools.wraps(function)
        async def marked(*args, **kwargs):
            _note(qualname + ">")
            try:
                return await function(*args, **kwargs)
            finally:
                _note(qualname + "<")

    else:

        @functools.wraps(function)
        def marked(*args, **kwargs):
            _note(qualname + ">")
            try:
                return function(*args, **kwargs)
            finally:
                _note(qualname + "<")

    setattr(owner, name, marked)


def report(requests: list[dict[str, float]]) -> list[str]:
    """The median gap between consecutive marks, along the most common order of marks."""
    paths = [(tuple(sorted(marks, key=marks.get)), marks) for marks in requests]
    order, seen = Counter(path for path, _ in paths).most_common(1)[0]
    gaps = defaultdict(list)
    for path, marks in paths:
        if path == order:
            for before, after in zip(order, order[1:]):
                gaps[before, after].append((marks[after] - marks[before]) * 1e6)
    lines = [f"{seen} of {len(requests)} requests took this path; median µs from each mark to the next:"]
    total = 0.0
    for before, after in zip(order, order[1:]):
        median = statistics.median(gaps[before, after])
        total += median
        lines.append(f"{median:9.1f}  {before} -> {after}")
    lines.append(f"{total:9.1f}  in all")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--gap", type=float, help="Seconds between requests (default: back to back).")
    parser.add_argument("--api", choices=sorted(inprocess.PATHS), default="openai")
    parser.add_argument("--mark", action="append", help="module:Qualified.name to mark (repeatable).")
    args = parser.parse_args(argv)
    requests = []
    measure = inprocess.measure
    call = inprocess.call

    async def marked_call(*call_args):
        global _marks
        _marks = {"start": time.perf_counter()}
        try:
            return await call(*call_args)
        finally:
            _marks["end"] = time.perf_counter()
            requests.append(_marks)
            _marks = None

    async def marked_measure(measure_args, key):
        import django

        django.setup()
        for target in args.mark or MARKS:
            _wrap(target)
        outcome = await measure(measure_args, key)
        kept = requests[-args.requests :]  # not the warm-up's
        print("\n".join(report(kept)))
        return outcome

    inprocess.call, inprocess.measure = marked_call, marked_measure
    forwarded = ["--requests", str(args.requests), "--concurrency", "1", "--api", args.api]
    return inprocess.main(forwarded + (["--gap", str(args.gap)] if args.gap else []))


if __name__ == "__main__":
    sys.exit(main())
