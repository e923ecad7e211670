"""Every write to teams, memberships and team keys, each with its audit row.

`actor` is the user acting (None for the command line and single sign-on sync); a user who is
neither staff nor an admin of the team gets PermissionDenied. `request` (optional) gives the audit
row its IP address.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from ollamaweb.audit.services import record, snapshot
from ollamaweb.keys import services as key_services
from ollamaweb.keys.models import ApiKey

from .models import Membership, Team

ROLES = {choice.value for choice in Membership.Role}


def is_staff(user) -> bool:
    return bool(user is not None and user.is_active and user.is_staff)


def can_manage(user, team: Team) -> bool:
    """Staff manage every team; a team admin manages their team."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return is_staff(user) or Membership.objects.filter(team=team, user=user, role=Membership.Role.ADMIN).exists()


def _require_manager(actor, team):
    if actor is not None and not can_manage(actor, team):
        raise PermissionDenied("Only staff and the team's admins manage this team.")


def _require_staff(actor):
    if actor is not None and not is_staff(actor):
        raise PermissionDenied("Only staff create and delete teams.")


def _clean_models(names) -> list[str]:
    return sorted({str(name).strip() for name in names or () if str(name).strip()})


def _membership_view(m: Membership) -> dict:
    return {"team": m.team.name, "user": m.user.get_username(), "role": m.role, "is_default": m.is_default}


@transaction.atomic
def create_team(actor, name: str, description: str = "", allowed_models=(), request=None) -> Team:
    _require_staff(actor)
    name = name.strip()
    if not name:
        raise ValidationError("A team needs a name.")
    if Team.objects.filter(name__iexact=name).exists():
        raise ValidationError(f"There is already a team named {name}.")
    team = Team.objects.create(name=name, description=description, allowed_models=_clean_models(allowed_models))
    record(actor, "team.create", team, after=snapshot(team, exclude=("created_at",)), request=request)
    return team


@transaction.atomic
def update_team(actor, team: Team, *, name=None, description=None, allowed_models=None, request=None) -> Team:
    _require_manager(actor, team)
    if (name is not None or allowed_models is not None) and actor is not None and not is_staff(actor):
        # A team admin manages people and keys; what the team may use is staff's decision.
        raise PermissionDenied("Only staff rename a team or change its models.")
    before = snapshot(team, exclude=("created_at",))
    if name is not None:
        name = name.strip()
        if not name:
            raise ValidationError("A team needs a name.")
        if Team.objects.filter(name__iexact=name).exclude(pk=team.pk).exists():
            raise ValidationError(f"There is already a team named {name}.")
        team.name = name
    if description is not None:
        team.description = description
    if allowed_models is not None:
        team.allowed_models = _clean_models(allowed_models)
    team.save()
    after = snapshot(team, exclude=("created_at",))
    if after != before:
        record(actor, "team.update", team, before=before, after=after, request=request)
    return team


@transaction.atomic
def delete_team(actor, team: Team, request=None) -> None:
    """Delete a team; its memberships and its team keys go with it (the keys stop working)."""
    _require_staff(actor)
    before = {
        **snapshot(team, exclude=("created_at",)),
        "members": [m.user.get_username() for m in team.memberships.select_related("user")],
        "keys": list(team.api_keys.values_list("prefix", flat=True)),
    }
    target = ("teams.team", str(team.pk), team.name)
    users = list(team.memberships.filter(is_default=True).values_list("user_id", flat=True))
    prefixes = list(team.api_keys.values_list("prefix", flat=True))
    team.delete()
    key_services.forget_keys(prefixes)
    for user_id in users:
        _ensure_default(user_id)
    record(actor, "team.delete", target, before=before, request=request)


def _ensure_default(user_id) -> None:
    """Give a user who is in teams but has no default team their oldest membership as default."""
    memberships = Membership.objects.select_for_update().filter(user_id=user_id)
    if memberships.exists() and not memberships.filter(is_default=True).exists():
        first = memberships.order_by("created_at", "id").first()
        first.is_default = True
        first.save(update_fields=["is_default"])  # the signal refreshes the team directory


@transaction.atomic
def add_member(actor, team: Team, user, role: str = Membership.Role.MEMBER, request=None, source="local") -> Membership:
    """Add a user to a team (their first team becomes their default); an existing member keeps their row."""
    _require_manager(actor, team)
    if role not in ROLES:
        raise ValidationError(f"Unknown role {role!r}.")
    existing = Membership.objects.filter(team=team, user=user).first()
    if existing is not None:
        if existing.role != role:
            return set_role(actor, existing, role, request=request)
        return existing
    is_default = not Membership.objects.filter(user=user).exists()
    membership = Membership.objects.create(team=team, user=user, role=role, is_default=is_default, source=source)
    record(
        actor,
        "team.member_add",
        team,
        after=_membership_view(membership),
        request=request,
        via="sso" if source == Membership.Source.SSO else "",
    )
    return membership


@transaction.atomic
def set_role(actor, membership: Membership, role: str, request=None) -> Membership:
    _require_manager(actor, membership.team)
    if role not in ROLES:
        raise ValidationError(f"Unknown role {role!r}.")
    if membership.role == role:
        return membership
    before = _membership_view(membership)
    membership.role = role
    membership.save(update_fields=["role"])
    record(
        actor, "team.member_role", membership.team, before=before, after=_membership_view(membership), request=request
    )
    return membership


@transaction.atomic
def remove_member(actor, membership: Membership, request=None, via="") -> None:
    _require_manager(actor, membership.team)
    before = _membership_view(membership)
    team, user_id = membership.team, membership.user_id
    membership.delete()
    _ensure_default(user_id)
    record(actor, "team.member_remove", team, before=before, request=request, via=via)


@transaction.atomic
def set_default_team(actor, user, team: Team, request=None) -> Membership:
    """The team the user's personal keys are charged to (the user themself, a team admin or staff)."""
    if actor is not None and actor.pk != user.pk:
        _require_manager(actor, team)
    membership = Membership.objects.select_for_update().filter(team=team, user=user).first()
    if membership is None:
        raise ValidationError(f"{user.get_username()} is not a member of {team.name}.")
    if membership.is_default:
        return membership
    previous = Membership.objects.filter(user=user, is_default=True).select_related("team").first()
    if previous is not None:
        previous.is_default = False
        previous.save(update_fields=["is_default"])
    membership.is_default = True
    membership.save(update_fields=["is_default"])
    record(
        actor,
        "team.default_team",
        ("auth.user", str(user.pk), user.get_username()),
        before={"default_team": previous.team.name if previous else None},
        after={"default_team": team.name},
        request=request,
    )
    return membership


@transaction.atomic
def issue_team_key(actor, team: Team, name: str = "", expires_at=None, allowed_models=(), request=None):
    """A team (service) key, created by a team admin or staff: returns (key, secret), the secret shown once."""
    if actor is None:
        raise PermissionDenied("A team key is created by a person (its creator is recorded).")
    _require_manager(actor, team)
    return key_services.issue_key(
        actor, name, expires_at, _clean_models(allowed_models), team=team, actor=actor, request=request
    )


@transaction.atomic
def revoke_team_key(actor, key: ApiKey, request=None) -> bool:
    """Revoke a team key (False when it was already revoked)."""
    if key.team_id is None:
        raise ValidationError("Not a team key.")
    _require_manager(actor, key.team)
    return key_services.revoke_key(key, actor=actor, request=request)


def sync_sso_teams(user, team_names, request=None) -> list[Team]:
    """Make a user's single sign-on memberships match the teams their identity provider names.

    Teams named and existing are joined (as members; a role set in ollamaweb is kept); memberships
    that came from single sign-on and are no longer named are removed. Memberships added in
    ollamaweb are never touched. Unknown team names are ignored (staff create teams).
    """
    wanted = {name.lower() for name in team_names}
    teams = [t for t in Team.objects.all() if t.name.lower() in wanted]
    with transaction.atomic():
        for team in teams:
            add_member(None, team, user, request=request, source=Membership.Source.SSO)
        stale = Membership.objects.filter(user=user, source=Membership.Source.SSO).exclude(team__in=teams)
        for membership in stale.select_related("team", "user"):
            remove_member(None, membership, request=request, via="sso")
    return teams


def memberships_of(user):
    return Membership.objects.filter(user=user).select_related("team").order_by("team__name")
