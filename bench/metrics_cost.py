"""CPU cost of observing one finished request (metrics, tracing off, alerts), measured in-process.

    .venv/bin/python bench/metrics_cost.py [--records 20000]

End-to-end on/off figures are in `bench/run.py --only metrics`; on a shared machine their noise is
far larger than this cost, which this script isolates: the usage hooks of one request, and the
record + backend-call bookkeeping the pipeline does for them.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ollamaweb.settings")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{Path(tempfile.gettempdir()) / 'ollamaweb-metrics-cost.sqlite3'}")
    import django

    django.setup()
    from ollamaweb.metrics import instruments, tracing
    from ollamaweb.usage import hooks
    from ollamaweb.usage.records import UsageRecord

    final = {"total_duration": 10**7, "load_duration": 10**5, "prompt_eval_duration": 10**6, "eval_duration": 8 * 10**6}

    def record():
        r = UsageRecord(endpoint="chat.completions", requested_model="llama3", resolved_model="llama3")
        tracing.start_request(r, "openai")
        with tracing.backend_call(r, "gpu1", "llama3") as call:
            call.first_token()
            r.add_durations(final)
            call.done(final)
        r.backend = "gpu1"
        r.add_usage(20, 16)
        r.finish(200)
        return r

    def plain():
        r = UsageRecord(endpoint="chat.completions", requested_model="llama3", resolved_model="llama3")
        r.mark_first_token()
        r.add_durations(final)
        r.backend = "gpu1"
        r.add_usage(20, 16)
        r.finish(200)
        return r

    started = time.process_time()
    for _ in range(args.records):
        plain()
    baseline = time.process_time() - started
    started = time.process_time()
    records = [record() for _ in range(args.records)]
    bookkeeping = (time.process_time() - started - baseline) / args.records * 1e6
    started = time.process_time()
    for r in records:
        instruments.observe(r)
    observe = (time.process_time() - started) / args.records * 1e6
    started = time.process_time()
    for r in records:
        hooks.request_finished(r)
    every_hook = (time.process_time() - started) / args.records * 1e6
    print(f"per request, CPU: Prometheus observations {observe:.1f} µs; every request-finished hook "
          f"{every_hook:.1f} µs; the pipeline's tracing calls (off) {bookkeeping:.1f} µs")  # fmt: skip


if __name__ == "__main__":
    main()
