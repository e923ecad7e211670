"""Model management on the backends (`ollama cp`, `ollama rm`, listing): small I/O functions that the
management commands and the admin share.

Each acts on a BackendConfig (config.py: a Backend row, or an OLLAMA_HOST URL when no row is
enabled). Management calls use a plain OllamaClient, not the registry's RoutedClient, so a long
pull never holds one of the backend's request slots.
"""

import asyncio
from dataclasses import dataclass

from asgiref.sync import sync_to_async

from ollamaweb.audit import services as audit
from ollamaweb.core.errors import GatewayError
from ollamaweb.core.names import canonical
from ollamaweb.core.ollama import close_http_client

from .config import BackendConfig
from .models import Backend


class TargetError(Exception):
    """The backends asked for cannot be chosen (unknown name, ambiguous default, none at all)."""


def select_targets(targets: list[BackendConfig], backend: str | None = None, all: bool = False) -> list[BackendConfig]:
    """The targets to act on: the one named, all enabled ones, or the only enabled one."""
    enabled = [t for t in targets if t.enabled]
    if backend:
        for target in targets:
            if target.name == backend:
                return [target]
        names = ", ".join(t.name for t in targets) or "none"
        raise TargetError(f"No backend named {backend!r} (configured: {names}).")
    if not enabled:
        raise TargetError("No enabled backend.")
    if all or len(enabled) == 1:
        return enabled
    names = ", ".join(t.name for t in enabled)
    raise TargetError(f"There are {len(enabled)} backends ({names}): choose one with --backend NAME, or --all.")


def error_text(exc: BaseException) -> str:
    return exc.message if isinstance(exc, GatewayError) else str(exc) or type(exc).__name__


def model_name(entry: dict) -> str:
    return entry.get("model") or entry.get("name") or "?"


def same_model(a: str, b: str) -> bool:
    return canonical(a) == canonical(b)


async def list_models(target: BackendConfig) -> list[dict]:
    """The models present on the backend (/api/tags entries)."""
    return (await target.client().request("GET", "/api/tags")).get("models") or []


async def find_model(target: BackendConfig, model: str) -> dict | None:
    """The /api/tags entry of `model` on the backend, or None when it is not there."""
    for entry in await list_models(target):
        if same_model(entry.get("model") or entry.get("name") or "", model):
            return entry
    return None


async def copy_model(target: BackendConfig, source: str, destination: str) -> None:
    """`ollama cp`: a real copy on the backend (raises NotFound with Ollama's message)."""
    await target.client().request("POST", "/api/copy", {"source": source, "destination": destination})


async def delete_model(target: BackendConfig, model: str) -> None:
    """`ollama rm` (raises NotFound with Ollama's message)."""
    await target.client().request("DELETE", "/api/delete", {"model": model})


@dataclass
class OperationResult:
    target: BackendConfig
    ok: bool
    message: str
    detail: dict | None = None

    def audited(self, **after) -> dict:
        """The audit log's `after` for this backend's outcome (with `after`, what the action made)."""
        return {**after, "backend": self.target.name, "ok": self.ok, "error": self.message}


async def on_each(targets: list[BackendConfig], operation, *args) -> list[OperationResult]:
    """Run `operation(target, *args)` on every target at once; one OperationResult per target, in order."""

    async def one(target):
        try:
            result = await operation(target, *args)
        except (GatewayError, OSError, TimeoutError) as exc:
            return OperationResult(target, False, error_text(exc))
        return OperationResult(target, True, "", result if isinstance(result, dict) else None)

    return list(await asyncio.gather(*(one(t) for t in targets)))


async def fetch_models(target: BackendConfig) -> tuple[list, list] | None:
    """The backend's models present (/api/tags) and loaded (/api/ps); None if it does not answer."""
    try:
        client = target.client()
        tags, ps = await asyncio.gather(client.request("GET", "/api/tags"), client.request("GET", "/api/ps"))
    except GatewayError:
        return None
    return tags.get("models") or [], ps.get("models") or []


def save_models(target: BackendConfig, models: tuple[list, list] | None) -> None:
    """Record the models on the backend's row (the health checker would within seconds)."""
    if target.db_id is not None and models is not None:
        Backend.objects.filter(pk=target.db_id).update(present_models=models[0], loaded_models=models[1])


async def refresh_models(target: BackendConfig) -> None:
    """After a change, record the backend's models at once (from async code: the server)."""
    await sync_to_async(save_models)(target, await fetch_models(target))


def refresh_models_now(targets: list[BackendConfig]) -> None:
    """The same from sync code (commands): the database is written from the calling thread."""
    targets = [t for t in targets if t.db_id is not None]
    if targets:

        async def fetch_all():
            return await asyncio.gather(*(fetch_models(t) for t in targets))

        for target, models in zip(targets, run(fetch_all())):
            save_models(target, models)


def record_outcomes(outcomes: list[OperationResult], action: str, model: str, **after) -> None:
    """From a command: audit each backend's outcome of `action` on `model`, and refresh the models of
    the backends it changed."""
    for outcome in outcomes:
        audit.record(None, action, ("model", "", model), after=outcome.audited(**after), via="command")
    refresh_models_now([o.target for o in outcomes if o.ok])


def changed_in_this_process():
    """Make this process's registry read the configuration again (the health checker refreshes models)."""
    from .registry import registry

    registry.invalidate()


def run(coroutine):
    """Run a coroutine from sync code (management commands), closing the loop's HTTP pool after."""

    async def main():
        try:
            return await coroutine
        finally:
            await close_http_client()

    return asyncio.run(main())


# --- Display helpers (the terminal and the admin) ----------------------------------------------


def human_size(n) -> str:
    """Bytes in decimal units, as Ollama shows them: 4.7 GB, 7.0 KB, 120 B."""
    if n is None or n == "":
        return "–"
    n = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{int(n)} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


def short_digest(digest: str) -> str:
    """sha256:6a0746a1ec1a… → 6a0746a1ec1a (what `ollama pull` prints)."""
    return (digest or "").split(":", 1)[-1][:12]
