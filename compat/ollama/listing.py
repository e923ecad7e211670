"""Model listings for Ollama clients (pure): /api/tags and /api/ps over several backends plus aliases.

Every model name has a tag, as in Ollama (`llama3` is listed as `llama3:latest`); an alias is
listed as its own model, with its target's details, so `ollama list`, Open WebUI and LangChain's
model check see the names a key may use. A key with an allow-list sees only those names.
"""

from collections.abc import Iterable, Mapping

from ollamaweb.core.names import canonical


def _name(entry: dict) -> str:
    return entry.get("model") or entry.get("name") or ""


def merge(listings: Iterable[list[dict]], newest_by: str) -> dict[str, dict]:
    """One entry per model (canonical name → entry) over the backends' listings; where a model is
    on several backends, the entry with the largest `newest_by` value (an RFC 3339 time) wins."""
    merged: dict[str, dict] = {}
    for listing in listings:
        for entry in listing or ():
            if not isinstance(entry, dict) or not _name(entry):
                continue
            name = canonical(_name(entry))
            known = merged.get(name)
            if known is None or str(entry.get(newest_by) or "") > str(known.get(newest_by) or ""):
                merged[name] = entry
    return merged


def with_aliases(models: dict[str, dict], aliases: Mapping[str, str]) -> dict[str, dict]:
    """Add an entry per alias (alias name → target name) whose target is listed, named as the alias."""
    result = dict(models)
    for alias, target in aliases.items():
        entry = models.get(canonical(target))
        if entry is not None:
            name = canonical(alias)
            result[name] = {**entry, "name": name, "model": name}
    return result


def allowed_only(models: dict[str, dict], allowed: Iterable[str]) -> dict[str, dict]:
    """The entries a key with this allow-list may use (an empty allow-list allows every model)."""
    names = {canonical(name) for name in allowed}
    if not names:
        return models
    return {name: entry for name, entry in models.items() if name in names}


def _newest_first(entries: list[dict], field: str) -> list[dict]:
    """Sorted by `field` (an RFC 3339 time), newest first; ties by name."""
    entries = sorted(entries, key=lambda entry: entry["name"])
    return sorted(entries, key=lambda entry: str(entry.get(field) or ""), reverse=True)


def tags(listings: Iterable[list[dict]], aliases: Mapping[str, str], allowed: Iterable[str]) -> dict:
    """GET /api/tags: newest modification first, as Ollama lists them."""
    models = allowed_only(with_aliases(merge(listings, "modified_at"), aliases), allowed)
    entries = [{**entry, "name": name, "model": name} for name, entry in models.items()]
    return {"models": _newest_first(entries, "modified_at")}


def running(listings: Iterable[list[dict]], aliases: Mapping[str, str], allowed: Iterable[str]) -> dict:
    """GET /api/ps: loaded models across backends, latest expiry first, as Ollama sorts them."""
    models = allowed_only(with_aliases(merge(listings, "expires_at"), aliases), allowed)
    entries = [{**entry, "name": name, "model": name} for name, entry in models.items()]
    return {"models": _newest_first(entries, "expires_at")}


def newest_version(versions: Iterable[str]) -> str:
    """The newest of the backends' Ollama versions (`0.12.3`), for GET /api/version."""

    def key(text: str):
        parts = []
        for part in text.split("-", 1)[0].split("."):
            parts.append(int(part) if part.isdigit() else 0)
        return parts, "-" not in text  # a release sorts after its pre-releases

    known = [v for v in versions if v]
    return max(known, key=key) if known else "0.0.0"
