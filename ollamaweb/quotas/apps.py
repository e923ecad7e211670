from django.apps import AppConfig


class QuotasConfig(AppConfig):
    name = "ollamaweb.quotas"
    label = "quotas"
    verbose_name = "Quotas and rate limits"
