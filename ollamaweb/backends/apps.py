from django.apps import AppConfig


class BackendsConfig(AppConfig):
    name = "ollamaweb.backends"
    label = "backends"
    verbose_name = "Ollama backends"

    def ready(self):
        from . import signals  # noqa: F401
