"""Gauges read at scrape time: each backend as this process's registry sees it, and the log writer.

Up, version, models present and loaded (with their memory, from /api/ps) are the same in every
process (each runs the health checks); in-flight and queued requests and the log writer's backlog
are this process's. With several workers (PROMETHEUS_MULTIPROC_DIR), a scrape reaches one worker,
so those per-process values are that worker's (the request counters are summed over all workers).
"""

from prometheus_client.core import GaugeMetricFamily

from ollamaweb.backends.registry import registry
from ollamaweb.usage.writer import log_writer


class BackendCollector:
    def describe(self):
        return []  # no describe at registration: collect() must not run before Django is ready

    def collect(self):
        up = GaugeMetricFamily(
            "ollamaweb_backend_up", "1 when the backend's last health check passed.", labels=["backend"]
        )
        info = GaugeMetricFamily(
            "ollamaweb_backend_info", "The backend's Ollama version (value 1).", labels=["backend", "version"]
        )
        inflight = GaugeMetricFamily(
            "ollamaweb_backend_inflight", "Requests in flight on the backend from this process.", labels=["backend"]
        )
        waiting = GaugeMetricFamily(
            "ollamaweb_backend_queued", "Requests of this process waiting for a backend slot.", labels=["backend"]
        )
        latency = GaugeMetricFamily(
            "ollamaweb_backend_health_latency_seconds", "Duration of the last health check.", labels=["backend"]
        )
        present = GaugeMetricFamily(
            "ollamaweb_backend_models_present", "Models on the backend (/api/tags).", labels=["backend"]
        )
        loaded = GaugeMetricFamily(
            "ollamaweb_backend_models_loaded", "Models loaded in memory (/api/ps).", labels=["backend"]
        )
        memory = GaugeMetricFamily(
            "ollamaweb_backend_model_memory_bytes",
            "Memory of a loaded model (/api/ps): kind=total (size) or vram (size_vram).",
            labels=["backend", "model", "kind"],
        )
        for state in list(registry._states.values()):
            name = state.name
            if state.up is not None:
                up.add_metric([name], 1.0 if state.up else 0.0)
            if state.version_text:
                info.add_metric([name, state.version_text], 1.0)
            inflight.add_metric([name], state.inflight)
            waiting.add_metric([name], state.waiting)
            if state.latency_ms is not None:
                latency.add_metric([name], state.latency_ms / 1000)
            present.add_metric([name], len(state.models))
            loaded.add_metric([name], len(state.loaded))
            for model, entry in state.loaded.items():
                memory.add_metric([name, model, "total"], float(entry.get("size") or 0))
                memory.add_metric([name, model, "vram"], float(entry.get("size_vram") or 0))
        pending = GaugeMetricFamily(
            "ollamaweb_log_writer_pending", "Finished requests of this process waiting to be written."
        )
        pending.add_metric([], log_writer.pending)
        yield from (up, info, inflight, waiting, latency, present, loaded, memory, pending)


backend_collector = BackendCollector()
