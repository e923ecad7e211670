from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "ollamaweb.portal"
    label = "portal"
    verbose_name = "Web portal"

    def ready(self):
        from ollamaweb.usage import hooks

        from . import signals  # noqa: F401
        from .feed import publish_requests

        hooks.on_batch_written(publish_requests)  # the staff's live feed
