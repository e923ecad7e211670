from django.apps import AppConfig


class KeysConfig(AppConfig):
    name = "ollamaweb.keys"
    label = "keys"
    verbose_name = "API keys"

    def ready(self):
        from . import system_checks  # noqa: F401
