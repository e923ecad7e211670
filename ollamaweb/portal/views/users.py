"""Staff user management in the portal: list, create, invite, (de)activate, set quotas, see keys and requests.

Every write goes through services (portal/services.py, keys/services.py, quotas/services.py),
which invalidate the caches the gateway authenticates and limits with.
"""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db.models import Count, F, Q, Sum
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from ollamaweb.keys.models import ApiKey
from ollamaweb.keys.services import revoke_key, set_users_active
from ollamaweb.quotas.models import LIMIT_FIELDS, QuotaPolicy
from ollamaweb.quotas.policy import merged
from ollamaweb.quotas.services import delete_policies, set_limits
from ollamaweb.usage.models import UsageRollup

from .. import stats
from ..forms import QuotaForm, UserCreateForm
from ..limits import key_limits, limits_for, rows_by_field
from ..playground_keys import PLAYGROUND_KEY_NAME
from ..security import page
from ..services import create_user, invite_path
from ..zones import quota_today
from .keys import key_usage

User = get_user_model()
INVITE_SESSION = "ollamaweb_invite_link"
PAGE_SIZE = 50


@page(staff=True)
def user_list(request):
    query = request.GET.get("q", "").strip()
    users = User.objects.order_by("username")
    if query:
        users = users.filter(Q(username__icontains=query) | Q(email__icontains=query))
    status = request.GET.get("status", "")
    if status == "active":
        users = users.filter(is_active=True)
    elif status == "inactive":
        users = users.filter(is_active=False)
    users = users.annotate(live_keys=Count("api_keys", filter=Q(api_keys__revoked=False), distinct=True))
    listing = Paginator(users, PAGE_SIZE).get_page(request.GET.get("page"))
    month = quota_today().replace(day=1)
    ids = [user.pk for user in listing]
    totals = {
        row["user"]: row
        for row in UsageRollup.objects.filter(user_id__in=ids, day__gte=month)
        .values("user")
        .annotate(tokens=Sum(F("prompt_tokens") + F("completion_tokens")), requests_sum=Sum("requests"))
    }
    for user in listing:
        user.month = totals.get(user.pk, {"tokens": 0, "requests_sum": 0})
    context = {"section": "users", "users": listing, "query": query, "status": status}
    return render(request, "portal/staff/users.html", context)


@page(staff=True, no_store=True)
def user_create(request):
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        user = create_user(
            data["username"],
            email=data.get("email") or "",
            password=data["password"] if data["sign_in"] == "password" else "",
            is_staff=data["is_staff"],
        )
        if data["sign_in"] == "invite":
            request.session[INVITE_SESSION] = {"user": user.pk, "link": request.build_absolute_uri(invite_path(user))}
        messages.success(request, f"Created user {user.get_username()}.")
        return redirect("portal:user", user.pk)
    return render(request, "portal/staff/user_create.html", {"section": "users", "form": form})


def _quota_rows(user, form_policy):
    """Each limit: the user's own value, the default, what applies, and what is used now."""
    default = QuotaPolicy.objects.filter(user=None, api_key=None, model="").first()
    effective = merged(f"u{user.pk}", default, form_policy)
    limit_rows, error = limits_for(user)
    used = rows_by_field(limit_rows, "All models")
    rows = []
    for name in LIMIT_FIELDS:
        rows.append(
            {
                "name": name,
                "own": getattr(form_policy, name, None) if form_policy else None,
                "default": getattr(default, name, None) if default else None,
                "effective": getattr(effective, name),
                "usage": used.get(name),
            }
        )
    return rows, limit_rows, error


@page(staff=True, no_store=True)
def user_detail(request, pk):
    person = get_object_or_404(User, pk=pk)
    policy = QuotaPolicy.objects.filter(user=person, api_key=None, model="").first()
    form = QuotaForm(initial={name: getattr(policy, name) for name in LIMIT_FIELDS} if policy else None)
    return _render_detail(request, person, policy, form)


def _render_detail(request, person, policy, form, status=200):
    quota_rows, limit_rows, limits_error = _quota_rows(person, policy)
    keys = list(ApiKey.objects.filter(user=person).exclude(name=PLAYGROUND_KEY_NAME).order_by("revoked", "-created_at"))
    usage = key_usage(person, quota_today().replace(day=1))
    own_limits, _ = key_limits([key for key in keys if key.status == "active"])
    key_policies = {
        policy.api_key_id: policy
        for policy in QuotaPolicy.objects.filter(api_key__in=[key.pk for key in keys], model="")
    }
    for key in keys:
        key.month_usage = usage.get(key.prefix, {"requests": 0, "tokens": 0})
        key.limit_rows = own_limits.get(key.pk, [])
        policy = key_policies.get(key.pk)
        initial = {name: getattr(policy, name) for name in LIMIT_FIELDS} if policy else None
        key.quota_form = QuotaForm(initial=initial, prefix=f"k{key.pk}")
    invite = request.session.pop(INVITE_SESSION, None)
    context = {
        "section": "users",
        "person": person,
        "form": form,
        "quota_rows": quota_rows,
        "limit_rows": limit_rows,
        "limits_error": limits_error,
        "keys": keys,
        "recent": stats.user_requests(person, size=10).rows,
        "month": stats.period_totals(person, quota_today().replace(day=1)),
        "today": stats.period_totals(person, quota_today()),
        "invite_link": invite["link"] if invite and invite.get("user") == person.pk else "",
        "is_self": person.pk == request.user.pk,
    }
    return render(request, "portal/staff/user.html", context, status=status)


@page(staff=True)
@require_POST
def user_set_active(request, pk):
    person = get_object_or_404(User, pk=pk)
    active = request.POST.get("active") == "1"
    if not active and person.pk == request.user.pk:
        messages.error(request, "You cannot deactivate yourself.")
    elif set_users_active([person], active):
        if active:
            messages.success(request, f"Activated {person.get_username()}: they can sign in and their keys work.")
        else:
            messages.success(
                request, f"Deactivated {person.get_username()}: they cannot sign in and their keys stop working."
            )
    return redirect("portal:user", person.pk)


@page(staff=True, no_store=True)
@require_POST
def user_quota(request, pk):
    person = get_object_or_404(User, pk=pk)
    form = QuotaForm(request.POST)
    if not form.is_valid():
        policy = QuotaPolicy.objects.filter(user=person, api_key=None, model="").first()
        return _render_detail(request, person, policy, form, status=400)
    limits = {name: form.cleaned_data[name] for name in LIMIT_FIELDS}
    if any(value is not None for value in limits.values()):
        set_limits(user=person, actor=request.user, request=request, **limits)
    else:  # every field empty: the user has no policy of their own (the default applies)
        delete_policies(
            QuotaPolicy.objects.filter(user=person, api_key=None, model=""), actor=request.user, request=request
        )
    messages.success(request, f"Saved the limits of {person.get_username()}.")
    return redirect("portal:user", person.pk)


@page(staff=True, no_store=True)
@require_POST
def user_invite(request, pk):
    person = get_object_or_404(User, pk=pk)
    request.session[INVITE_SESSION] = {"user": person.pk, "link": request.build_absolute_uri(invite_path(person))}
    return redirect("portal:user", person.pk)


@page(staff=True)
@require_POST
def user_revoke_key(request, pk, key):
    api_key = get_object_or_404(ApiKey, pk=key, user_id=pk)
    if revoke_key(api_key):
        messages.success(request, f"Revoked key “{api_key.name or 'unnamed'}” ({api_key.prefix}…).")
    return redirect("portal:user", pk)


@page(staff=True)
@require_POST
def user_key_quota(request, pk, key):
    """A key's own limits (on top of its owner's); all fields empty removes them."""
    api_key = get_object_or_404(ApiKey, pk=key, user_id=pk)
    form = QuotaForm(request.POST, prefix=f"k{api_key.pk}")
    if not form.is_valid():
        messages.error(request, f"Limits of key “{api_key.name or 'unnamed'}” not saved: whole numbers, 0 or more.")
        return redirect("portal:user", pk)
    limits = {name: form.cleaned_data[name] for name in LIMIT_FIELDS}
    if any(value is not None for value in limits.values()):
        set_limits(api_key=api_key, actor=request.user, request=request, **limits)
    else:
        delete_policies(QuotaPolicy.objects.filter(api_key=api_key, model=""), actor=request.user, request=request)
    messages.success(request, f"Saved the limits of key “{api_key.name or 'unnamed'}”.")
    return redirect("portal:user", pk)
