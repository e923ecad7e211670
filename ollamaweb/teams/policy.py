"""Which team a request belongs to, and whether the team may use a model.

The rule for a user in several teams:
- a **team key** (ApiKey.team set) is charged to its team, whoever created it;
- a **personal key** is charged to its owner's **default team** (Membership.is_default: the first
  team a user joins is their default; the user, a team admin or staff can change it);
- a user in no team, with a personal key, is charged to no team (user and key limits only).

team_for() and model_allowed() are pure functions over a TeamDirectory (a snapshot of teams and
default teams); `team_directory.get()` gives a per-process snapshot refreshed every
CONFIG_CACHE_TTL seconds and at once on changes made in this process (signals.py), as aliases
and quota policies are.

    directory = await team_directory.get()
    team = team_for(identity, directory)          # identity: keys.cache.KeyIdentity (team_id, user_id)
    if not model_allowed(team, requested_name, resolved_name): raise PermissionDenied(...)
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

from django.conf import settings

from ollamaweb.core.names import canonical
from ollamaweb.core.refreshed import RefreshedTable


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


# A user's personal keys are charged to their default membership's team, else their oldest one's.
DEFAULT_FIRST = ("-is_default", "id")


def load_directory() -> TeamDirectory:
    """A snapshot from the database (two small queries)."""
    from .models import Membership, Team

    teams = {
        t.pk: TeamInfo(t.pk, t.name, frozenset(str(m) for m in t.allowed_models or ())) for t in Team.objects.all()
    }
    defaults: dict[int, int] = {}
    for user_id, team_id in Membership.objects.order_by(*DEFAULT_FIRST).values_list("user_id", "team_id"):
        defaults.setdefault(user_id, team_id)
    return TeamDirectory(teams, defaults)


def charged_team(user):
    """The Team a user's personal keys are charged to (as team_for() decides), or None; one query."""
    from .models import Membership

    membership = Membership.objects.filter(user=user).select_related("team").order_by(*DEFAULT_FIRST).first()
    return membership.team if membership else None


class TeamDirectoryCache:
    """The directory per process, refreshed every CONFIG_CACHE_TTL seconds, one refresh at a time,
    kept through a database outage (core.refreshed); a change saved here is seen at once (signals.py)."""

    def __init__(self):
        self._table = RefreshedTable(load_directory, lambda: settings.CONFIG_CACHE_TTL, TeamDirectory())

    async def get(self) -> TeamDirectory:
        return await self._table.get()

    @property
    def last(self) -> TeamDirectory:
        """The snapshot requests were last charged by, without a refresh."""
        return self._table.last

    def invalidate(self):
        self._table.invalidate()


team_directory = TeamDirectoryCache()
