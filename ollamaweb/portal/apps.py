from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "ollamaweb.portal"
    label = "portal"
    verbose_name = "Web portal"

    def ready(self):
        from . import signals  # noqa: F401
