from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "ollamaweb.catalog"
    label = "catalog"
    verbose_name = "Models and aliases"
