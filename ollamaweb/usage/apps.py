from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "ollamaweb.usage"
    label = "usage"
    verbose_name = "Usage"
