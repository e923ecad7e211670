"""Model management asked for through Ollama's own API (/api/pull, /api/push, /api/create, /api/copy,
/api/delete, /api/blobs) by a key with the "manage models" scope.

To its clients the gateway is one Ollama server, so management acts on every enabled backend:

- pull and create run on each enabled backend in turn; their progress lines go to the client as
  Ollama sends them, with one `{"status": "success"}` at the very end;
- push runs on the first backend that has the model;
- copy makes a real copy on every backend that has the source when the destination is already a
  model on some backend (`ollama cp` overwrites); otherwise it makes an alias destination → source:
  instant, valid on every backend, no disk used, and `ollama rm` removes it again;
- delete removes the alias of that name if there is one, else the model from every backend that
  has it (404 when neither);
- a blob (HEAD) exists when every enabled backend has it; an upload (POST) goes to each enabled
  backend that lacks it.
"""

import asyncio
from collections.abc import AsyncIterator

import httpx2 as httpx
from django.core.exceptions import ValidationError

from ollamaweb.catalog.aliases import alias_table
from ollamaweb.catalog.models import ModelAlias
from ollamaweb.catalog.services import delete_aliases, set_alias
from ollamaweb.core.db import run_in_thread
from ollamaweb.core.errors import BackendUnavailable, InvalidRequest, NotFound
from ollamaweb.core.names import canonical
from ollamaweb.core.ollama import _error_message, _transport_error, error_for_status, http_client

from .config import BackendConfig as Target
from .config import aconfigured_backends
from .operations import (
    changed_in_this_process,
    copy_model,
    delete_model,
    find_model,
    refresh_models,
)


async def enabled_targets() -> list[Target]:
    targets = [target for target in await aconfigured_backends() if target.enabled]
    if not targets:
        raise BackendUnavailable("No model backend is configured.")
    return targets


async def _holders(targets: list[Target], model: str) -> list[Target]:
    found = await asyncio.gather(*(find_model(target, model) for target in targets))
    return [target for target, entry in zip(targets, found) if entry is not None]


async def progress(path: str, payload: dict, targets: list[Target]) -> AsyncIterator[dict]:
    """Run a progress-streaming operation (pull, push, create) on each target in turn; its lines.

    Failures raise (GatewayError); the caller turns one after the first line into an error line.
    """
    payload = {**payload, "stream": True}
    for position, target in enumerate(targets):
        async with target.client().stream(path, payload) as lines:
            async for item in lines:
                if item.get("status") == "success" and position < len(targets) - 1:
                    continue
                yield item
        await refresh_models(target)
    changed_in_this_process()


async def push_target(model: str) -> Target:
    """The first enabled backend that has `model` (to push from)."""
    holders = await _holders(await enabled_targets(), model)
    if not holders:
        raise NotFound(f"model '{model}' not found")
    return holders[0]


async def copy(source: str, destination: str) -> str:
    """`ollama cp source destination`: "alias" or "copied" (see the module's docstring)."""
    targets = await enabled_targets()
    resolved = await alias_table.resolve(source)
    holders = await _holders(targets, resolved)
    if not holders:
        raise NotFound(f'model "{source}" not found')
    if not await _holders(targets, destination):
        try:
            await run_in_thread(set_alias, destination, resolved)
        except ValidationError as exc:
            raise InvalidRequest(" ".join(exc.messages), param="destination") from None
        return "alias"
    for target in holders:
        await copy_model(target, resolved, destination)
        await refresh_models(target)
    changed_in_this_process()
    return "copied"


async def delete(model: str) -> str:
    """`ollama rm model`: "alias" (an alias was deleted) or "deleted" (from the backends that had it)."""
    if await run_in_thread(_delete_alias, model):
        return "alias"
    holders = await _holders(await enabled_targets(), model)
    if not holders:
        raise NotFound(f"model '{model}' not found")
    for target in holders:
        await delete_model(target, model)
        await refresh_models(target)
    changed_in_this_process()
    return "deleted"


def _delete_alias(name: str) -> bool:
    aliases = [alias for alias in ModelAlias.objects.all() if canonical(alias.name) == canonical(name)]
    return delete_aliases(aliases) > 0 if aliases else False


async def _blob_status(target: Target, method: str, digest: str, content: bytes | None = None) -> int:
    url = f"{target.url.rstrip('/')}/api/blobs/{digest}"
    try:
        response = await http_client().request(method, url, content=content, headers=dict(target.headers))
    except httpx.HTTPError as exc:
        raise _transport_error(exc, target.url) from exc
    if response.status_code in (200, 201) or (method == "HEAD" and response.status_code == 404):
        return response.status_code
    raise error_for_status(response.status_code, _error_message(response.content))


async def blob_exists(digest: str) -> bool:
    targets = await enabled_targets()
    statuses = await asyncio.gather(*(_blob_status(target, "HEAD", digest) for target in targets))
    return all(status == 200 for status in statuses)


async def upload_blob(digest: str, content: bytes) -> None:
    """Upload a blob to every enabled backend that lacks it (each checks the digest: 400 on mismatch)."""
    for target in await enabled_targets():
        if await _blob_status(target, "HEAD", digest) != 200:
            await _blob_status(target, "POST", digest, content)
