from django.apps import AppConfig


class SsoConfig(AppConfig):
    name = "ollamaweb.sso"
    label = "sso"
    verbose_name = "Single sign-on"
