"""What idling costs the next piece of work on this machine, without any server or network.

    python bench/idle_cost.py [--objects 300000] [--touches 3000] [--pauses 0,0.01,0.1,1]

Runs the same fixed work back to back, then after idle pauses (10 ms, 100 ms and 1 s), and
prints its median time for each. Two kinds of work: a small one (JSON of one chat request, all in
the CPU's caches) and one that reads a few thousand objects scattered over ~100 MB, as a request's
way through Django and the gateway touches code and objects all over the process. If only the
second slows down after a pause, the machine (a VM sharing its host) loses the process's cached
memory while it idles, and any work spaced out in time pays for it: that is why requests a second
apart cost more than back-to-back ones, for the upstream alone as for the gateway
(bench/README.md, "Requests spaced a second apart").
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time


def small_work():
    request = {"model": "m", "messages": [{"role": "user", "content": "x" * 50}] * 5, "options": {"seed": 1}}
    for _ in range(60):
        json.loads(json.dumps(request))


def scattered_work(objects: list[dict], picks: list[int]) -> int:
    total = 0
    for index in picks:
        item = objects[index]
        total += item["k"] + len(item["v"]) + item["l"][1]
    return total


def median_ms(work, pause: float, times: int) -> float:
    samples = []
    for _ in range(times):
        if pause:
            time.sleep(pause)
        started = time.perf_counter()
        work()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=300_000, help="Objects in the large working set.")
    parser.add_argument("--touches", type=int, default=3_000, help="Objects read per piece of scattered work.")
    parser.add_argument("--pauses", default="0,0.01,0.1,1", help="Idle seconds before each piece of work (0: none).")
    args = parser.parse_args(argv)
    pauses = [float(pause) for pause in args.pauses.split(",")]
    objects = [{"k": i, "v": str(i), "l": [i, i + 1]} for i in range(args.objects)]
    picks = random.Random(1).sample(range(len(objects)), args.touches)
    works = {"small (in cache)": small_work, "scattered (~100 MB)": lambda: scattered_work(objects, picks)}
    print(f"{'work':22} " + " ".join(f"{'after ' + str(p) + ' s' if p else 'back to back':>14}" for p in pauses))
    for name, work in works.items():
        medians = [median_ms(work, pause, 12 if pause >= 1 else 40) for pause in pauses]
        print(f"{name:22} " + " ".join(f"{m:11.3f} ms" for m in medians))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
