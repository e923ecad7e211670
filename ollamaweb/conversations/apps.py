from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "ollamaweb.conversations"
    label = "conversations"
    verbose_name = "Stored conversations"
