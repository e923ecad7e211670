"""Copy-paste snippets with this server's real base URL."""

from django.shortcuts import render

from ollamaweb.catalog.models import ModelAlias
from ollamaweb.keys.models import ApiKey

from ..model_listing import cached_catalog
from ..playground_keys import PLAYGROUND_KEY_NAME
from ..security import page


def _example_models(aliases, catalog) -> tuple[str, str]:
    """A chat and an embedding model name for the snippets, aliases first (they are what clients know)."""

    def capabilities(name):
        model = catalog.find(name) if catalog else None
        return set(model.capabilities) if model else None

    def embeds(name):
        return "embedding" in (capabilities(name) or ())

    chat = [a.name for a in aliases if not embeds(a.target)]
    embed = [a.name for a in aliases if embeds(a.target)]
    if catalog:
        chat += [m.name for m in catalog.models if m.can_chat and "embedding" not in m.capabilities]
        embed += [m.name for m in catalog.models if "embedding" in m.capabilities]
    return (chat or ["llama3"])[0], (embed or ["all-minilm"])[0]


@page
def quickstart(request):
    aliases = list(ModelAlias.objects.order_by("name")[:20])
    model, embedding_model = _example_models(aliases, cached_catalog())
    key = ApiKey.objects.usable().filter(user=request.user).exclude(name=PLAYGROUND_KEY_NAME).first()
    context = {
        "section": "quickstart",
        "base_url": request.build_absolute_uri("/v1"),
        "model": model,
        "embedding_model": embedding_model,
        "aliases": aliases,
        "key_hint": f"{key.prefix}…" if key else "sk-…",
        "key": key,
    }
    return render(request, "portal/quickstart.html", context)
