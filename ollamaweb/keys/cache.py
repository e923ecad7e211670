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
from collections import deque
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError

from ollamaweb.core.db import run_in_thread
from ollamaweb.core.refreshed import KEPT_FRESH_AFTER_USE, REFRESH_AHEAD

from .models import ApiKey

MAX_ENTRIES = 50_000
LOOKUP_CHUNK = 500  # keys per query when many are looked up at once
READ_AHEAD_GATHER = 0.1  # of the TTL: keys due this much later are looked up with those due now
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


def _lookup(prefixes: list[str]) -> dict[str, KeyIdentity | None]:
    """The keys' identities (None: no such key) from the shared cache (with Redis), else the database."""
    found: dict[str, KeyIdentity | None] = {}
    if settings.REDIS_URL:
        shared = cache.get_many([shared_key(prefix) for prefix in prefixes])
        for prefix in prefixes:
            value = shared.get(shared_key(prefix))
            if value is not None:
                found[prefix] = None if value == NO_SUCH_KEY else value
    missing = [prefix for prefix in prefixes if prefix not in found]
    for start in range(0, len(missing), LOOKUP_CHUNK):
        chunk = missing[start : start + LOOKUP_CHUNK]
        identities = {
            key.prefix: _identity(key) for key in ApiKey.objects.select_related("user").filter(prefix__in=chunk)
        }
        found.update((prefix, identities.get(prefix)) for prefix in chunk)
    if settings.REDIS_URL and missing:
        cache.set_many({shared_key(prefix): found[prefix] or NO_SUCH_KEY for prefix in missing}, SHARED_TTL)
    return found


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


class _Entry:
    __slots__ = ("fresh_until", "identity", "last_used")

    def __init__(self, fresh_until: float, identity: KeyIdentity | None, last_used: float):
        self.fresh_until, self.identity, self.last_used = fresh_until, identity, last_used


class KeyCache:
    """Keys in use are looked up again in the background shortly before their entry expires
    (core/refreshed.py explains why), all those due at about the same time in one query, so a
    request seldom waits for the database; an entry is never trusted longer than API_KEY_CACHE_TTL,
    and a key not used for KEPT_FRESH_AFTER_USE seconds is left to expire."""

    def __init__(self):
        self._entries: dict[str, _Entry] = {}
        self._loading: dict[str, asyncio.Future] = {}
        # (when to look the key up again, prefix, the entry then due), in the order looked up
        self._due: deque[tuple[float, str, _Entry]] = deque()
        self._timer: asyncio.AbstractEventLoop | None = None  # the loop whose timer will read ahead next
        self._generation = 0  # bumped by invalidate(): a lookup that started before it is not cached

    async def get(self, prefix: str) -> KeyIdentity | None:
        entry = self._entries.get(prefix)
        if entry is not None:
            entry.last_used = now = time.monotonic()
            if entry.fresh_until > now:
                return entry.identity
        return await asyncio.shield(self._start_load(prefix))

    def _start_load(self, prefix: str) -> asyncio.Future:
        loading = self._loading.get(prefix)
        if loading is None:  # one lookup per key, however many requests wait for it
            loading = self._loading[prefix] = asyncio.ensure_future(self._load(prefix))
            loading.add_done_callback(lambda future: self._loaded(prefix, future))
        return loading

    def _loaded(self, prefix: str, future: asyncio.Future):
        if self._loading.get(prefix) is future:  # not a lookup started after an invalidation
            del self._loading[prefix]

    async def _load(self, prefix: str) -> KeyIdentity | None:
        generation = self._generation
        try:
            [identity] = (await run_in_thread(_lookup, [prefix])).values()
        except DatabaseError:
            known = self._entries.get(prefix)
            if known is None:
                raise
            # The database does not answer: a key known a moment ago stays as it was (nothing can
            # change it meanwhile), and the database is asked again shortly.
            known.fresh_until = time.monotonic() + STALE_RETRY_SECONDS
            self._read_ahead_later(prefix, known)
            return known.identity
        if generation == self._generation:  # else the key changed while it was looked up: ask again next time
            self._store(prefix, identity, time.monotonic())
        return identity

    def _store(self, prefix: str, identity: KeyIdentity | None, last_used: float):
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        entry = self._entries[prefix] = _Entry(time.monotonic() + settings.API_KEY_CACHE_TTL, identity, last_used)
        self._read_ahead_later(prefix, entry)

    # -- reading ahead ----------------------------------------------------------------------

    def _read_ahead_later(self, prefix: str, entry: _Entry):
        ttl = settings.API_KEY_CACHE_TTL
        if ttl <= 0:
            return
        self._due.append((time.monotonic() + ttl * REFRESH_AHEAD, prefix, entry))
        loop = asyncio.get_running_loop()
        if self._timer is not loop:  # none yet, or one on a loop that has ended (tests run several)
            self._schedule(loop)

    def _schedule(self, loop: asyncio.AbstractEventLoop):
        self._timer = loop
        loop.call_later(max(0.0, self._due[0][0] - time.monotonic()), self._read_ahead, loop)

    def _read_ahead(self, loop: asyncio.AbstractEventLoop):
        """Look up again, in one query, the keys in use whose lookup falls due now or soon."""
        if self._timer is not loop:
            return  # superseded by a timer on another loop
        self._timer = None
        now = time.monotonic()
        gathered_until = now + settings.API_KEY_CACHE_TTL * READ_AHEAD_GATHER
        due, batch = self._due, {}
        while due and due[0][0] <= gathered_until:
            _, prefix, entry = due.popleft()
            if (
                self._entries.get(prefix) is entry
                and now - entry.last_used <= KEPT_FRESH_AFTER_USE
                and prefix not in self._loading
            ):
                batch[prefix] = entry
        if batch:
            loop.create_task(self._load_ahead(batch))
        if due:
            self._schedule(loop)

    async def _load_ahead(self, batch: dict[str, _Entry]):
        try:
            identities = await run_in_thread(_lookup, list(batch))
        except DatabaseError:  # as in _load: the keys stay as they are, and are asked for again shortly
            for prefix, entry in batch.items():
                if self._entries.get(prefix) is entry:
                    entry.fresh_until = time.monotonic() + STALE_RETRY_SECONDS
                    self._read_ahead_later(prefix, entry)
            return
        for prefix, entry in batch.items():
            if self._entries.get(prefix) is entry:  # else invalidated (or looked up anew) meanwhile
                self._store(prefix, identities[prefix], entry.last_used)

    def invalidate(self, prefix: str | None = None):
        self._generation += 1
        if prefix is None:
            self._loading.clear()
            self._entries.clear()
        else:
            self._entries.pop(prefix, None)
            self._loading.pop(prefix, None)


key_cache = KeyCache()
