"""API keys: create (the secret is shown once), list, revoke. Users only ever see their own keys."""

from asgiref.sync import async_to_sync
from django.contrib import messages
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from ollamaweb.catalog.models import ModelAlias
from ollamaweb.keys import services as key_services
from ollamaweb.keys.models import ApiKey

from ..forms import ApiKeyForm
from ..model_listing import get_catalog
from ..security import page


def known_model_names() -> list[str]:
    """Models the backend serves plus aliases, for the allow-list checkboxes (empty if unknown)."""
    catalog = async_to_sync(get_catalog)()
    names = [model.name for model in catalog.models] + list(ModelAlias.objects.values_list("name", flat=True))
    return sorted(dict.fromkeys(names))


def _list_context(request, form):
    show_all = request.GET.get("all") == "1"
    keys = ApiKey.objects.filter(user=request.user, team__isnull=True).order_by("-created_at")
    live = Q(revoked=False) & (Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
    hidden = 0 if show_all else keys.exclude(live).count()
    return {
        "section": "keys",
        "form": form,
        "keys": keys if show_all else keys.filter(live),
        "hidden_count": hidden,
        "show_all": show_all,
    }


@page(no_store=True)
def keys(request):
    """GET: the user's keys and a form; POST: create a key and show its secret (this once only)."""
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
            base_url = request.build_absolute_uri("/v1")
            return render(
                request,
                "portal/key_created.html",
                {"section": "keys", "key": key, "secret": secret, "base_url": base_url},
            )
        return render(request, "portal/keys.html", _list_context(request, form), status=400)
    return render(request, "portal/keys.html", _list_context(request, ApiKeyForm(model_names=known_model_names())))


@page
@require_POST
def revoke_key(request, pk):
    key = get_object_or_404(ApiKey, pk=pk, user=request.user, team__isnull=True)
    if key.revoked:
        messages.info(request, f"Key {key.prefix}… was already revoked.")
    else:
        key_services.revoke_key(key, actor=request.user, request=request)
        messages.success(request, f"Revoked key {key.prefix}… ({key.name or 'unnamed'}). It stops working at once.")
    return redirect("portal:keys")
