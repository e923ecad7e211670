"""A per-process cache of API keys, so authenticating a request needs no database round trip.

Entries (including "no such key") are trusted for API_KEY_CACHE_TTL seconds; a change saved in
this process invalidates at once (signals.py), a change made by another process is seen within
the TTL. Expiry is checked on every request against the cached expiry time.

With REDIS_URL, a second, shared layer sits in Redis (Django's cache): processes fill it from the
database and every save deletes the entry there, so keys keep working while the database is
unreachable and a new process does not need the database to authenticate known keys.
"""

import asyncio
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError

from ollamaweb.core.db import run_in_thread
from ollamaweb.core.refreshed import REFRESH_AHEAD

from .models import ApiKey

MAX_ENTRIES = 50_000
SHARED_TTL = 300
NO_SUCH_KEY = "none"
STALE_RETRY_SECONDS = 5.0


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
    team_id: int | None = None  # a team (service) key's team; see teams.policy.team_for
    can_manage_models: bool = False

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now


def _lookup(prefix: str) -> KeyIdentity | None:
    """The key's identity from the shared cache (with Redis) or else the database."""
    if settings.REDIS_URL:
        shared = cache.get(shared_key(prefix))
        if shared is not None:
            return None if shared == NO_SUCH_KEY else shared
    key = ApiKey.objects.select_related("user").filter(prefix=prefix).first()
    identity = _identity(key) if key else None
    if settings.REDIS_URL:
        cache.set(shared_key(prefix), identity or NO_SUCH_KEY, SHARED_TTL)
    return identity


def _identity(key: ApiKey) -> KeyIdentity:
    return KeyIdentity(
        key_id=key.pk,
        prefix=key.prefix,
        hashed_key=key.hashed_key,
        user_id=key.user_id,
        username=key.user.get_username(),
        # A team key belongs to its team: it keeps working when the member who created it is deactivated.
        usable=not key.revoked and (key.user.is_active or key.team_id is not None),
        expires_at=key.expires_at.timestamp() if key.expires_at else None,
        allowed_models=frozenset(str(name) for name in key.allowed_models or ()),
        team_id=key.team_id,
        can_manage_models=key.can_manage_models,
    )


class KeyCache:
    """Keys in use are looked up again in the background shortly before their entry expires
    (core/refreshed.py explains why), so a request seldom waits for the database; an entry is
    never trusted longer than API_KEY_CACHE_TTL, and keys not used since their last lookup expire."""

    def __init__(self):
        self._entries: dict[str, tuple[float, KeyIdentity | None]] = {}
        self._loading: dict[str, asyncio.Future] = {}
        self._used: set[str] = set()  # prefixes asked for since their last lookup
        self._generation = 0  # bumped by invalidate(): a lookup that started before it is not cached

    async def get(self, prefix: str) -> KeyIdentity | None:
        entry = self._entries.get(prefix)
        if entry is not None and entry[0] > time.monotonic():
            self._used.add(prefix)
            return entry[1]
        identity = await asyncio.shield(self._start_load(prefix))
        self._used.add(prefix)
        return identity

    def _start_load(self, prefix: str) -> asyncio.Future:
        loading = self._loading.get(prefix)
        if loading is None:  # one lookup per key, however many requests wait for it
            loading = self._loading[prefix] = asyncio.ensure_future(self._load(prefix))
            loading.add_done_callback(lambda future: self._loaded(prefix, future))
        return loading

    def _loaded(self, prefix: str, future: asyncio.Future):
        self._loading.pop(prefix, None)
        if not future.cancelled() and future.exception() is None and settings.API_KEY_CACHE_TTL > 0:
            future.get_loop().call_later(settings.API_KEY_CACHE_TTL * REFRESH_AHEAD, self._refresh_ahead, prefix)

    def _refresh_ahead(self, prefix: str):
        if prefix in self._used and prefix in self._entries:
            self._used.discard(prefix)
            self._start_load(prefix)

    async def _load(self, prefix: str) -> KeyIdentity | None:
        generation = self._generation
        try:
            identity = await run_in_thread(_lookup, prefix)
        except DatabaseError:
            known = self._entries.get(prefix)
            if known is None:
                raise
            # The database does not answer: a key known a moment ago stays as it was (nothing can
            # change it meanwhile), and the database is asked again shortly.
            self._entries[prefix] = (time.monotonic() + STALE_RETRY_SECONDS, known[1])
            return known[1]
        if generation != self._generation:  # the key changed while it was looked up: ask again next time
            return identity
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
            self._used.clear()
        self._entries[prefix] = (time.monotonic() + settings.API_KEY_CACHE_TTL, identity)
        return identity

    def invalidate(self, prefix: str | None = None):
        self._generation += 1
        if prefix is None:
            self._loading.clear()
            self._entries.clear()
            self._used.clear()
        else:
            self._entries.pop(prefix, None)
            self._used.discard(prefix)
            self._loading.pop(prefix, None)


key_cache = KeyCache()
