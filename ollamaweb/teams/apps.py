from django.apps import AppConfig


class TeamsConfig(AppConfig):
    name = "ollamaweb.teams"
    label = "teams"
    verbose_name = "Teams"

    def ready(self):
        from . import signals  # noqa: F401
