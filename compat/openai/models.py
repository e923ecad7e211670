"""Ollama model listings → OpenAI `model` objects."""

from ollamaweb.core.names import owner_of

from .common import unix_time


def model_object(model_id: str, created: int, owned_by: str) -> dict:
    return {"id": model_id, "object": "model", "created": created, "owned_by": owned_by}


def models_from_tags(tags: dict, default_created: int) -> list[dict]:
    entries = []
    for model in tags.get("models") or ():
        model_id = model.get("model") or model.get("name")
        if model_id:
            entries.append(
                model_object(model_id, unix_time(model.get("modified_at"), default_created), owner_of(model_id))
            )
    return entries


def merge_model_lists(listings: list[list[dict]]) -> list[dict]:
    """One entry per model id across backends; `created` is the newest modification time."""
    merged: dict[str, dict] = {}
    for listing in listings:
        for model in listing:
            known = merged.get(model["id"])
            if known is None or model["created"] > known["created"]:
                merged[model["id"]] = model
    return sorted(merged.values(), key=lambda model: model["id"])
