from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .cache import key_cache
from .models import ApiKey


@receiver([post_save, post_delete], sender=ApiKey)
def forget_key(sender, instance, **kwargs):
    key_cache.invalidate(instance.prefix)


@receiver([post_save, post_delete], sender=get_user_model())
def forget_user_keys(sender, instance, **kwargs):
    key_cache.invalidate()
