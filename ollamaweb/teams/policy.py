"""Which team a request belongs to, and whether the team may use a model.

The rule for a user in several teams:
- a **team key** (ApiKey.team set) is charged to its team, whoever created it;
- a **personal key** is charged to its owner's **default team** (Membership.is_default: the first
  team a user joins is their default; the user, a team admin or staff can change it);
- a user in no team, with a personal key, is charged to no team (user and key limits only).

team_for() and model_allowed() are pure functions over a TeamDirectory (a snapshot of teams and
default teams); `team_directory.get()` gives a per-process snapshot refreshed every
API_KEY_CACHE_TTL seconds and at once on changes made in this process (signals.py), as keys and
aliases are.

    directory = await team_directory.get()
    team = team_for(identity, directory)          # identity: keys.cache.KeyIdentity (team_id, user_id)
    if not model_allowed(team, requested_name, resolved_name): raise PermissionDenied(...)
"""

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.conf import settings

from ollamaweb.core.db import run_in_thread
from ollamaweb.core.names import canonical

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TeamInfo:
    id: int
    name: str
    allowed_models: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class TeamDirectory:
    teams: Mapping[int, TeamInfo] = field(default_factory=dict)
    default_team: Mapping[int, int] = field(default_factory=dict)  # user id -> team id


def team_for(identity, directory: TeamDirectory) -> TeamInfo | None:
    """The team a request made with this key is charged to (None: no team).

    `identity` is anything with `team_id` (the key's team or None) and `user_id` attributes.
    """
    team_id = getattr(identity, "team_id", None)
    if team_id is None:
        user_id = getattr(identity, "user_id", None)
        team_id = directory.default_team.get(user_id) if user_id is not None else None
    return directory.teams.get(team_id) if team_id is not None else None


def model_allowed(team: TeamInfo | None, requested: str, resolved: str = "") -> bool:
    """Whether the team may use a model, by the name asked for (an alias) or the model it resolves to."""
    if team is None or not team.allowed_models:
        return True
    names = {canonical(requested), canonical(resolved)} if resolved else {canonical(requested)}
    return bool(names & {canonical(name) for name in team.allowed_models})


def load_directory() -> TeamDirectory:
    """A snapshot from the database (two small queries)."""
    from .models import Membership, Team

    teams = {
        t.pk: TeamInfo(t.pk, t.name, frozenset(str(m) for m in t.allowed_models or ())) for t in Team.objects.all()
    }
    defaults: dict[int, int] = {}
    # A user's default membership, else their oldest one.
    for user_id, team_id in Membership.objects.order_by("-is_default", "id").values_list("user_id", "team_id"):
        defaults.setdefault(user_id, team_id)
    return TeamDirectory(teams, defaults)


class TeamDirectoryCache:
    """The directory, reloaded at most every API_KEY_CACHE_TTL seconds by one load at a time.

    Once loaded, an expired directory is still served while the next one loads in the background
    (requests never wait for it); a change saved in this process (signals.py) drops it, so the
    next request waits for the new one.
    """

    def __init__(self):
        self._directory: TeamDirectory | None = None
        self._fresh_until = 0.0
        self._loading: asyncio.Future | None = None
        self._generation = 0

    async def get(self) -> TeamDirectory:
        if self._directory is not None and time.monotonic() < self._fresh_until:
            return self._directory
        if self._loading is None:
            self._loading = loading = asyncio.ensure_future(self._load())
            loading.add_done_callback(self._loaded)
        if self._directory is not None:
            return self._directory
        return await asyncio.shield(self._loading)

    async def _load(self) -> TeamDirectory:
        generation = self._generation
        directory = await run_in_thread(load_directory)
        if generation == self._generation:  # not read before a change made while it loaded
            self._directory = directory
            self._fresh_until = time.monotonic() + settings.API_KEY_CACHE_TTL
        return directory

    def _loaded(self, future: asyncio.Future):
        if self._loading is future:
            self._loading = None
        if not future.cancelled() and future.exception() is not None and self._directory is not None:
            logger.warning("could not reload the teams (serving the last copy): %s", future.exception())

    def invalidate(self):
        self._generation += 1
        self._directory = None
        self._fresh_until = 0.0
        self._loading = None  # a load already under way may have read the old rows


team_directory = TeamDirectoryCache()
