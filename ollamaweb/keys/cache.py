"""A per-process cache of API keys, so authenticating a request needs no database round trip.

Entries (including "no such key") are trusted for API_KEY_CACHE_TTL seconds; a change saved in
this process invalidates at once (signals.py), a change made by another process is seen within
the TTL. Expiry is checked on every request against the cached expiry time.

With REDIS_URL, a second, shared layer sits in Redis (Django's cache): processes fill it from the
database and every save deletes the entry there, so keys keep working while the database is
unreachable and a new process does not need the database to authenticate known keys.
"""

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from .models import ApiKey

MAX_ENTRIES = 50_000
SHARED_TTL = 300
NO_SUCH_KEY = "none"


def shared_key(prefix: str) -> str:
    return f"ollamaweb:apikey:{prefix}"


@dataclass(frozen=True, slots=True)
class KeyIdentity:
    key_id: int
    prefix: str
    hashed_key: str
    user_id: int
    username: str
    usable: bool
    expires_at: float | None
    allowed_models: frozenset[str]

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now


def _identity(key: ApiKey) -> KeyIdentity:
    return KeyIdentity(
        key_id=key.pk,
        prefix=key.prefix,
        hashed_key=key.hashed_key,
        user_id=key.user_id,
        username=key.user.get_username(),
        usable=not key.revoked and key.user.is_active,
        expires_at=key.expires_at.timestamp() if key.expires_at else None,
        allowed_models=frozenset(str(name) for name in key.allowed_models or ()),
    )


class KeyCache:
    def __init__(self):
        self._entries: dict[str, tuple[float, KeyIdentity | None]] = {}

    async def get(self, prefix: str) -> KeyIdentity | None:
        now = time.monotonic()
        entry = self._entries.get(prefix)
        if entry is not None and entry[0] > now:
            return entry[1]
        identity = await self._load(prefix)
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[prefix] = (now + settings.API_KEY_CACHE_TTL, identity)
        return identity

    async def _load(self, prefix: str) -> KeyIdentity | None:
        if settings.REDIS_URL:
            shared = await cache.aget(shared_key(prefix))
            if shared is not None:
                return None if shared == NO_SUCH_KEY else shared
        key = await ApiKey.objects.select_related("user").filter(prefix=prefix).afirst()
        identity = _identity(key) if key else None
        if settings.REDIS_URL:
            await cache.aset(shared_key(prefix), identity or NO_SUCH_KEY, SHARED_TTL)
        return identity

    def invalidate(self, prefix: str | None = None):
        if prefix is None:
            self._entries.clear()
        else:
            self._entries.pop(prefix, None)


key_cache = KeyCache()
