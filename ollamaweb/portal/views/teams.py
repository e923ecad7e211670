"""Teams in the portal: everyone sees their teams and their team's limits; team admins manage members
and team keys; staff create, edit and delete teams, set their limits and manage any of them. Every
write goes through ollamaweb.teams.services or ollamaweb.quotas.services (which write the audit rows)."""

import csv
import datetime

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from ollamaweb.core.names import canonical
from ollamaweb.keys.models import ApiKey
from ollamaweb.quotas.models import LIMIT_FIELDS, QuotaPolicy
from ollamaweb.quotas.services import delete_policies, set_limits
from ollamaweb.teams import services
from ollamaweb.teams.models import Membership, Team
from ollamaweb.usage.reports import TEAM_COLUMNS, TEAM_CSV_COLUMNS, team_csv_rows, team_usage, usage_by_team

from ..forms import ApiKeyForm, TeamLimitsForm, submit
from ..limits import rows_by_field, team_limits
from ..security import page
from .keys import known_model_names


class TeamForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(max_length=300, required=False)
    allowed_models = forms.CharField(
        label="Allowed models",
        required=False,
        max_length=4000,
        help_text="Comma-separated model or alias names the team may use; empty allows every model.",
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def clean_allowed_models(self):
        return [n.strip() for n in self.cleaned_data["allowed_models"].split(",") if n.strip()]


class MemberForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def clean_username(self):
        user = get_user_model().objects.filter(username=self.cleaned_data["username"].strip()).first()
        if user is None:
            raise forms.ValidationError("No user with that name.")
        return user


def _visible_team(request, pk) -> tuple[Team, Membership | None]:
    team = get_object_or_404(Team, pk=pk)
    membership = Membership.objects.filter(team=team, user=request.user).first()
    if membership is None and not services.is_staff(request.user):
        raise Http404("No such team.")
    return team, membership


@page(no_store=True)
def teams(request):
    """Your teams (and your default team); staff also see every team and create new ones."""
    form = TeamForm(request.POST or None)
    if request.method == "POST":
        if not services.is_staff(request.user):
            raise PermissionDenied("Only staff create teams.")
        team = submit(
            form,
            "name",
            lambda data: services.create_team(
                request.user, data["name"], data["description"], data["allowed_models"], request=request
            ),
        )
        if team is not None:
            messages.success(request, f"Created the team {team.name}.")
            return redirect("portal:team", pk=team.pk)
    context = {
        "section": "teams",
        "memberships": services.memberships_of(request.user),
        "all_teams": Team.objects.all() if services.is_staff(request.user) else None,
        "form": form,
    }
    return render(request, "portal/teams.html", context, status=400 if form.errors else 200)


def _team_policy(team, model: str = "") -> QuotaPolicy | None:
    """The team's policy on all models (""), or on the model named (`llama3` or `llama3:latest`)."""
    wanted = canonical(model) if model else ""
    for policy in QuotaPolicy.objects.filter(team=team):
        if (canonical(policy.model) if policy.model else "") == wanted:
            return policy
    return None


def _limits_form(team, model: str = "") -> TeamLimitsForm:
    policy = _team_policy(team, model)
    initial = {"model": policy.model if policy else model}
    if policy:
        initial.update({name: getattr(policy, name) for name in LIMIT_FIELDS})
    return TeamLimitsForm(initial=initial)


def _limits_context(request, team, form) -> dict:
    limits, error = team_limits(team)
    staff = services.is_staff(request.user)
    if staff and form is None:
        form = _limits_form(team, request.GET.get("limits_model", "")[:200])
    model = (form["model"].value() or "").strip() if form else ""
    policy = _team_policy(team, model)
    if policy is None:  # a model with no team policy yet: nothing is counted against it
        used = {}
    else:
        used = rows_by_field(limits, f"Model {policy.model}" if policy.model else "All models")
    return {
        "limits": limits,
        "limits_error": error,
        "limits_form": form if staff else None,
        "limit_fields": [(form[name], used.get(name)) for name in LIMIT_FIELDS] if staff else [],
        "model_policies": sorted(
            QuotaPolicy.objects.filter(team=team).exclude(model="").values_list("model", flat=True)
        ),
    }


def _team_context(request, team, membership, limits_form=None, **extra):
    manager = services.can_manage(request.user, team)
    context = {
        "section": "teams",
        "team": team,
        "membership": membership,
        "manager": manager,
        "staff": services.is_staff(request.user),
        "memberships": team.memberships.select_related("user").order_by("user__username"),
        "keys": ApiKey.objects.filter(team=team).select_related("user").order_by("-created_at"),
        "usage": team_usage(team),
        "member_form": MemberForm(),
        "key_form": ApiKeyForm(model_names=known_model_names()) if manager else None,
        "team_form": TeamForm(
            initial={
                "name": team.name,
                "description": team.description,
                "allowed_models": ", ".join(team.allowed_models),
            }
        ),
        "roles": Membership.Role.choices,
        **_limits_context(request, team, limits_form),
    }
    context.update(extra)
    return context


@page(no_store=True)
def team(request, pk):
    team, membership = _visible_team(request, pk)
    return render(request, "portal/team.html", _team_context(request, team, membership))


@page(staff=True, no_store=True)
def teams_usage_csv(request):
    """Every team's usage per model (staff): `?since=YYYY-MM-DD`, else this month."""
    since = request.GET.get("since") or timezone.localdate().replace(day=1).isoformat()
    try:
        since_day = datetime.date.fromisoformat(since)
    except ValueError:
        raise Http404("since must be a date like 2026-11-25") from None
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="ollamaweb-teams-usage-since-{since_day.isoformat()}.csv"'
    writer = csv.DictWriter(response, fieldnames=TEAM_COLUMNS)
    writer.writeheader()
    writer.writerows(usage_by_team(since_day))
    return response


@page(no_store=True)
def team_usage_csv(request, pk):
    """The team's daily usage per user, key and model; for its admins and staff."""
    team, _ = _visible_team(request, pk)
    if not services.can_manage(request.user, team):
        raise PermissionDenied("Only the team's admins and staff download its usage.")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    filename = f"ollamaweb-team-{team.pk}-usage-{timezone.localdate().isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(TEAM_CSV_COLUMNS)
    writer.writerows(team_csv_rows(team))
    return response


@page(no_store=True)
@require_POST
def team_action(request, pk, action):
    """The team page's forms: each runs one service function (which checks who may do it)."""
    team, membership = _visible_team(request, pk)
    post = request.POST
    try:
        if action == "default":
            services.set_default_team(request.user, request.user, team, request=request)
            messages.success(request, f"{team.name} is now your default team: your personal keys are charged to it.")
        elif action == "add-member":
            form = MemberForm(post)
            if not form.is_valid():
                messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
            else:
                services.add_member(
                    request.user, team, form.cleaned_data["username"], form.cleaned_data["role"], request=request
                )
                messages.success(request, f"{form.cleaned_data['username'].get_username()} is in {team.name}.")
        elif action in ("member-role", "remove-member"):
            target = get_object_or_404(Membership, pk=post.get("membership"), team=team)
            if action == "member-role":
                services.set_role(request.user, target, post.get("role", ""), request=request)
                messages.success(request, f"{target.user.get_username()} is now a {target.get_role_display()}.")
            else:
                services.remove_member(request.user, target, request=request)
                messages.success(request, f"Removed {target.user.get_username()} from {team.name}.")
        elif action == "create-key":
            if not services.can_manage(request.user, team):
                raise PermissionDenied("Only the team's admins and staff create team keys.")
            form = ApiKeyForm(post, model_names=known_model_names())
            if not form.is_valid():
                context = _team_context(request, team, membership, key_form=form)
                return render(request, "portal/team.html", context, status=400)
            key, secret = services.issue_team_key(
                request.user,
                team,
                form.cleaned_data["name"],
                expires_at=form.cleaned_data["expires_at"],
                allowed_models=form.cleaned_data["allowed_models"],
                request=request,
            )
            base_url = request.build_absolute_uri("/v1")
            context = {"section": "teams", "key": key, "secret": secret, "base_url": base_url, "team": team}
            return render(request, "portal/key_created.html", context)
        elif action == "revoke-key":
            key = get_object_or_404(ApiKey, pk=post.get("key"), team=team)
            if services.revoke_team_key(request.user, key, request=request):
                messages.success(request, f"Revoked the team key {key.prefix}… ({key.name or 'unnamed'}).")
            else:
                messages.info(request, f"Key {key.prefix}… was already revoked.")
        elif action == "update":
            form = TeamForm(post)
            if not form.is_valid():
                context = _team_context(request, team, membership, team_form=form)
                return render(request, "portal/team.html", context, status=400)
            services.update_team(
                request.user,
                team,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                allowed_models=form.cleaned_data["allowed_models"],
                request=request,
            )
            messages.success(request, f"Saved the team {team.name}.")
        elif action == "limits":
            if not services.is_staff(request.user):
                raise PermissionDenied("Only staff set a team's limits.")
            form = TeamLimitsForm(post)
            if not form.is_valid():
                context = _team_context(request, team, membership, limits_form=form)
                return render(request, "portal/team.html", context, status=400)
            _save_limits(request, team, form.cleaned_data)
        elif action == "delete":
            name = team.name
            services.delete_team(request.user, team, request=request)
            messages.success(request, f"Deleted the team {name} and its keys.")
            return redirect("portal:teams")
        else:
            raise Http404("No such action.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("portal:team", pk=team.pk)


def _save_limits(request, team, data):
    """The team's limits on all models or one model; every field empty removes that policy."""
    existing = _team_policy(team, data["model"])
    model = existing.model if existing else data["model"]
    on = f"on model {model}" if model else "on all models"
    limits = {name: data[name] for name in LIMIT_FIELDS}
    if any(value is not None for value in limits.values()):
        set_limits(team=team, model=model, actor=request.user, request=request, **limits)
        messages.success(request, f"Saved the limits of {team.name} {on}.")
    elif existing:
        delete_policies([existing], actor=request.user, request=request)
        messages.success(request, f"Removed the limits of {team.name} {on}: no team limit applies there now.")
    else:
        messages.info(request, f"{team.name} has no limits {on}; every field was empty, so nothing changed.")
