from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import Backend
from .registry import registry


@receiver([post_save, post_delete], sender=Backend)
def reload_backends(sender, **kwargs):
    registry.invalidate()
