"""The model catalog: what the backends serve, aliases, capabilities, and the user's key restrictions."""

from asgiref.sync import sync_to_async
from django.shortcuts import render

from ollamaweb.catalog.models import ModelAlias
from ollamaweb.core.names import canonical
from ollamaweb.keys.models import ApiKey

from ..model_listing import get_catalog
from ..security import page


@page
async def models(request):
    catalog = await get_catalog(refresh=request.GET.get("refresh") == "1")
    aliases = [alias async for alias in ModelAlias.objects.order_by("name")]
    keys = [key async for key in ApiKey.objects.usable().filter(user=request.user).order_by("-created_at")]
    restricted = [key for key in keys if key.allowed_models]
    allowed_by = {}
    for key in restricted:
        for name in key.allowed_models:
            allowed_by.setdefault(canonical(str(name)), []).append(key)

    rows = [{"model": model, "restricted_keys": allowed_by.get(canonical(model.name), [])} for model in catalog.models]
    alias_rows = [
        {
            "alias": alias,
            "target": catalog.find(alias.target),
            "restricted_keys": allowed_by.get(canonical(alias.name), []),
        }
        for alias in aliases
    ]
    context = {
        "section": "models",
        "catalog": catalog,
        "rows": rows,
        "alias_rows": alias_rows,
        "restricted": restricted,
        "unrestricted_keys": len(keys) - len(restricted),
    }
    return await sync_to_async(render)(request, "portal/models.html", context)
