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
    aliases, broken = [], []
    for alias in ModelAlias.objects.order_by("name"):
        target = catalog.find(alias.target)
        if target is not None and target.can_chat:
            aliases.append(alias)
        elif target is None and (catalog.error or not catalog.models):
            aliases.append(alias)  # the backend cannot say: offer it
        elif target is None:
            broken.append(alias)  # its model is not served: selectable nowhere, shown as such
    live = playground_keys(request.user).first()
    # The default is a model that works: a served chat model (aliases of one first), never a broken alias.
    working = [alias.name for alias in aliases if catalog.find(alias.target)] + chat_models
    default = working[0] if working else (aliases[0].name if aliases else "")
    context = {
        "section": "playground",
        "catalog": catalog,
        "chat_models": chat_models,
        "aliases": aliases,
        "broken_aliases": broken,
        "default_model": default,
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
