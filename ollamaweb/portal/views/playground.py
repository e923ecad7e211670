"""The chat Playground. How it gets an API key is described in portal/playground_keys.py."""

from asgiref.sync import async_to_sync
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from ollamaweb.catalog.models import ModelAlias

from ..model_listing import get_catalog
from ..playground_keys import PLAYGROUND_KEY_TTL, issue_playground_key, playground_keys
from ..security import page


@page
def playground(request):
    catalog = async_to_sync(get_catalog)()
    chat_models = [model.name for model in catalog.models if model.can_chat]
    aliases = []
    for alias in ModelAlias.objects.order_by("name"):
        target = catalog.find(alias.target)
        if target is None or target.can_chat:
            aliases.append(alias)
    live = playground_keys(request.user).first()
    context = {
        "section": "playground",
        "catalog": catalog,
        "chat_models": chat_models,
        "aliases": aliases,
        "live_prefix": live.prefix if live and not live.is_expired else "",
        "ttl_hours": int(PLAYGROUND_KEY_TTL.total_seconds() // 3600),
    }
    return render(request, "portal/playground.html", context)


@page(no_store=True)
@require_POST
def playground_key(request):
    """Issue the user's Playground key and return its secret once (the page keeps it in sessionStorage)."""
    key, secret = issue_playground_key(request.user)
    return JsonResponse(
        {"secret": secret, "prefix": key.prefix, "expires_at": key.expires_at.isoformat(), "name": key.name}
    )
