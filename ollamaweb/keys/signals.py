from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .cache import key_cache, shared_key
from .models import ApiKey, OllamaPublicKey
from .signatures import public_keys


@receiver([post_save, post_delete], sender=ApiKey)
def forget_key(sender, instance, **kwargs):
    key_cache.invalidate(instance.prefix)
    if settings.REDIS_URL:
        cache.delete(shared_key(instance.prefix))


@receiver([post_save, post_delete], sender=get_user_model())
def forget_user_keys(sender, instance, **kwargs):
    key_cache.invalidate()
    if settings.REDIS_URL:
        cache.delete_many([shared_key(prefix) for prefix in instance.api_keys.values_list("prefix", flat=True)])


@receiver([post_save, post_delete], sender=OllamaPublicKey)
def forget_public_key(sender, instance, **kwargs):
    public_keys.invalidate(instance.public_key)
