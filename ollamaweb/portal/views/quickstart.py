"""Copy-paste snippets with this server's real base URL, a key of the user and a model that key may use."""

from asgiref.sync import async_to_sync
from django.shortcuts import render

from ollamaweb.catalog.models import ModelAlias
from ollamaweb.core.names import canonical
from ollamaweb.keys.models import ApiKey

from ..model_listing import get_catalog
from ..playground_keys import PLAYGROUND_KEY_NAME
from ..security import page


def working_models(aliases, catalog) -> tuple[list[str], list[str]]:
    """Chat and embedding names that work now: aliases of a served model first, then the served models.

    With the backend unreachable every alias is offered (nothing can be checked), plus Ollama's defaults.
    """
    if catalog.error or not catalog.models:
        return [a.name for a in aliases] + ["llama3"], ["all-minilm"]
    chat, embed = [], []
    for alias in aliases:
        target = catalog.find(alias.target)
        if target is None:
            continue  # an alias of a model no backend serves would fail
        (embed if "embedding" in target.capabilities else chat).append(alias.name)
    for model in catalog.models:
        if "embedding" in model.capabilities:
            embed.append(model.name)
        elif model.can_chat:
            chat.append(model.name)
    return chat, embed


def allows(key: ApiKey | None, name: str) -> bool:
    if key is None or not key.allowed_models:
        return True
    return canonical(name) in {canonical(str(allowed)) for allowed in key.allowed_models}


def choose(keys: list[ApiKey], chat: list[str], embed: list[str]) -> tuple[ApiKey | None, str, str]:
    """A key and the chat/embedding models of the example, chosen so that the example works with that key."""
    ordered = sorted(keys, key=lambda key: bool(key.allowed_models))  # keys for every model first
    for key in ordered or [None]:
        usable_chat = [name for name in chat if allows(key, name)]
        if usable_chat:
            return key, usable_chat[0], next((name for name in embed if allows(key, name)), "")
    key = ordered[0]
    return key, str(key.allowed_models[0]), ""  # no served model fits this key: at least a name it may use


@page
def quickstart(request):
    aliases = list(ModelAlias.objects.order_by("name")[:50])
    catalog = async_to_sync(get_catalog)()
    chat, embed = working_models(aliases, catalog)
    keys = list(ApiKey.objects.usable().filter(user=request.user).exclude(name=PLAYGROUND_KEY_NAME))
    key, model, embedding_model = choose(keys, chat, embed)
    shown_aliases = [alias for alias in aliases if alias.name in chat or alias.name in embed or catalog.error]
    usable_alias = next((alias.name for alias in shown_aliases if allows(key, alias.name)), "")
    context = {
        "section": "quickstart",
        "base_url": request.build_absolute_uri("/v1"),
        "model": model,
        "embedding_model": embedding_model,
        "aliases": shown_aliases,
        "alias_example": usable_alias,
        "key_hint": f"{key.prefix}…" if key else "sk-…",
        "key": key,
        "restricted": bool(key and key.allowed_models),
    }
    return render(request, "portal/quickstart.html", context)
