"""Writes to API keys: issue and revoke. Every change is forgotten at once by the key caches.

ApiKey saves invalidate this process's key cache and the shared (Redis) entry through
signals.py; the functions here also invalidate explicitly, so callers that bypass save()
(bulk updates) have one place to go.
"""

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from .cache import key_cache, shared_key
from .models import ApiKey


def forget_keys(prefixes) -> None:
    """Drop keys from this process's cache and the shared cache (None = every key of this process)."""
    if prefixes is None:
        key_cache.invalidate()
        return
    prefixes = list(prefixes)
    for prefix in prefixes:
        key_cache.invalidate(prefix)
    if settings.REDIS_URL and prefixes:
        cache.delete_many([shared_key(prefix) for prefix in prefixes])


def issue_key(user, name: str = "", *, expires_at=None, allowed_models=()) -> tuple[ApiKey, str]:
    """Create a key for the user; returns (key, secret). The secret is never stored."""
    key, secret = ApiKey.issue(user, name, expires_at=expires_at, allowed_models=list(allowed_models))
    forget_keys([key.prefix])  # a "no such key" answer may be cached for this prefix
    return key, secret


def revoke_key(key: ApiKey) -> bool:
    """Revoke one key (it stops working at once); False if it was already revoked."""
    if key.revoked:
        return False
    key.revoke()
    forget_keys([key.prefix])
    return True


def revoke_keys(queryset) -> int:
    """Revoke every live key of a queryset; returns how many."""
    with transaction.atomic():
        keys = list(queryset.filter(revoked=False))
        for key in keys:
            key.revoke()
    forget_keys([key.prefix for key in keys])
    return len(keys)


def set_allowed_models(key: ApiKey, names) -> None:
    key.allowed_models = list(dict.fromkeys(str(name) for name in names))
    key.save(update_fields=["allowed_models"])
    forget_keys([key.prefix])
