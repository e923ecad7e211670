import os

from django.apps import AppConfig
from django.conf import settings


class MetricsConfig(AppConfig):
    name = "ollamaweb.metrics"
    label = "metrics"
    verbose_name = "Observability"

    def ready(self):
        from ollamaweb.usage import hooks

        from . import alerts, tracing

        if settings.METRICS_ENABLED:
            from prometheus_client import REGISTRY

            from . import instruments
            from .collector import backend_collector

            hooks.on_request_finished(instruments.observe)
            hooks.on_batch_written(instruments.observe_written)
            if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
                try:
                    REGISTRY.register(backend_collector)
                except ValueError:
                    pass  # already registered (ready() ran twice)
        tracing.configure_from_environment()
        hooks.on_request_finished(tracing.request_finished)
        hooks.on_batch_written(tracing.batch_written)
        alerts.connect()
