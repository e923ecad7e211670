from django.apps import AppConfig


class BackendsConfig(AppConfig):
    name = "ollamaweb.backends"
    label = "backends"
    verbose_name = "Ollama backends"

    def ready(self):
        from ollamaweb.catalog.services import register_model_source

        from .config import known_models

        register_model_source(known_models)  # aliases are checked against the backends' models
