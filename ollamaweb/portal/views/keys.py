"""API keys: create (the secret is shown once), list with usage and limits, revoke.

Creating a key follows post/redirect/get: the POST issues the key, keeps its secret in the
session and redirects to `keys/new/`, which takes the secret out of the session and shows it
this once (a reload shows the key list instead of creating a second key). Users only ever see
their own keys; Playground keys are not listed (they come and go with the browser tab).
"""

import time

from asgiref.sync import async_to_sync
from django.contrib import messages
from django.db.models import F, Q, Sum
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from ollamaweb.catalog.models import ModelAlias
from ollamaweb.keys import services as key_services
from ollamaweb.keys.models import ApiKey
from ollamaweb.usage.models import UsageRollup

from ..forms import ApiKeyForm
from ..limits import key_limits
from ..model_listing import get_catalog
from ..playground_keys import PLAYGROUND_KEY_NAME, playground_keys
from ..security import page
from ..zones import quota_today

NEW_KEY_SESSION = "ollamaweb_new_key"
NEW_KEY_SHOWN_WITHIN = 600  # seconds: a secret never fetched is not kept in the session longer


def known_model_names() -> list[str]:
    """Models the backend serves plus aliases, for the allow-list checkboxes (empty if unknown)."""
    catalog = async_to_sync(get_catalog)()
    names = [model.name for model in catalog.models] + list(ModelAlias.objects.values_list("name", flat=True))
    return sorted(dict.fromkeys(names))


def key_usage(user, since) -> dict[str, dict]:
    """Requests and tokens per key prefix since a day (from the rollups)."""
    rows = (
        UsageRollup.objects.filter(user=user, day__gte=since)
        .values("key_prefix")
        .annotate(requests_sum=Sum("requests"), tokens=Sum(F("prompt_tokens") + F("completion_tokens")))
    )
    return {row["key_prefix"]: {"requests": row["requests_sum"], "tokens": row["tokens"] or 0} for row in rows}


def _list_context(request, form):
    show_all = request.GET.get("all") == "1"
    keys = (
        ApiKey.objects.filter(user=request.user, team__isnull=True)
        .exclude(name=PLAYGROUND_KEY_NAME)
        .order_by("-created_at")
    )
    live = Q(revoked=False) & (Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
    hidden = 0 if show_all else keys.exclude(live).count()
    shown = list(keys if show_all else keys.filter(live))
    usage = key_usage(request.user, quota_today().replace(day=1))
    limits, limits_error = key_limits(shown)
    for key in shown:
        key.month_usage = usage.get(key.prefix, {"requests": 0, "tokens": 0})
        key.limit_rows = limits.get(key.pk, [])
    playground = playground_keys(request.user).filter(expires_at__gt=timezone.now()).first()
    return {
        "section": "keys",
        "form": form,
        "keys": shown,
        "hidden_count": hidden,
        "show_all": show_all,
        "limits_error": limits_error,
        "playground_key": playground,
    }


@page(no_store=True)
def keys(request):
    """GET: the user's keys and a form; POST: create a key, then redirect to its one-time secret page."""
    if request.method == "POST":
        form = ApiKeyForm(request.POST, model_names=known_model_names())
        if form.is_valid():
            key, secret = key_services.issue_key(
                request.user,
                form.cleaned_data["name"],
                expires_at=form.cleaned_data["expires_at"],
                allowed_models=form.cleaned_data["allowed_models"],
                actor=request.user,
                request=request,
            )
            request.session[NEW_KEY_SESSION] = {"id": key.pk, "secret": secret, "at": time.time()}
            return redirect("portal:key-created")
        return render(request, "portal/keys.html", _list_context(request, form), status=400)
    request.session.pop(NEW_KEY_SESSION, None)  # a secret not fetched at once is dropped, never shown later
    return render(request, "portal/keys.html", _list_context(request, ApiKeyForm(model_names=known_model_names())))


@page(no_store=True)
def key_created(request):
    """The new key's secret, once: it leaves the session as it is shown."""
    new = request.session.pop(NEW_KEY_SESSION, None)
    fresh = new and time.time() - new.get("at", 0) < NEW_KEY_SHOWN_WITHIN
    key = ApiKey.objects.filter(pk=new["id"], user=request.user).first() if fresh else None
    if key is None:
        messages.info(request, "A new key's secret is shown only once, right after it is created.")
        return redirect("portal:keys")
    base_url = request.build_absolute_uri("/v1")
    context = {"section": "keys", "key": key, "secret": new["secret"], "base_url": base_url}
    return render(request, "portal/key_created.html", context)


@page
@require_POST
def revoke_key_view(request, pk):
    key = get_object_or_404(ApiKey, pk=pk, user=request.user, team__isnull=True)
    label = f"“{key.name or 'unnamed'}” ({key.prefix}…)"
    if key_services.revoke_key(key, actor=request.user, request=request):
        messages.success(request, f"Revoked key {label}. It stops working at once.")
    else:
        messages.info(request, f"Key {label} was already revoked.")
    return redirect("portal:keys")
