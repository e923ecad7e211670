"""Ollama's native JSON shapes and error messages (see shared/docs/ollama-api.md §7)."""

from __future__ import annotations

from datetime import UTC, datetime

from engine.models import ModelCard

# What `keep_alive: -1` (keep forever) reports as `expires_at` in Ollama.
NEVER_EXPIRES = "2318-08-04T00:00:00Z"


class APIError(Exception):
    """An error answered as `{"error": message}` with an HTTP status."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def timestamp(moment: float | None = None) -> str:
    """RFC 3339 UTC with sub-second digits, as Ollama's `created_at`."""
    when = datetime.now(UTC) if moment is None else datetime.fromtimestamp(moment, UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def model_not_found(name: str) -> APIError:
    return APIError(404, f"model '{name}' not found")


def unsupported(card: ModelCard, capability: str) -> APIError:
    """Ollama words missing capabilities two ways; both are kept verbatim."""
    if capability in ("tools", "vision", "insert", "audio"):
        return APIError(400, f"registry.ollama.ai/library/{card.name} does not support {capability}")
    return APIError(400, f'"{card.name}" does not support {capability}')


def details(card: ModelCard) -> dict:
    return {
        "parent_model": "",
        "format": card.format,
        "family": card.family,
        "families": [card.family],
        "parameter_size": card.parameter_size,
        "quantization_level": card.quantization_level,
    }


def tag_entry(card: ModelCard) -> dict:
    return {
        "name": card.name,
        "model": card.name,
        "modified_at": timestamp(card.modified_at),
        "size": card.size,
        "digest": card.digest,
        "details": details(card),
        "capabilities": list(card.capabilities),
    }


def show_body(card: ModelCard) -> dict:
    return {
        "license": "",
        "modelfile": f"# Served by the ollamaweb engine\nFROM {card.name}\n",
        "parameters": "",
        "template": card.chat_template or "",
        "details": details(card),
        "model_info": card.model_info,
        "tensors": [],
        "capabilities": list(card.capabilities),
        "modified_at": timestamp(card.modified_at),
    }


def ps_entry(card: ModelCard, context_length: int) -> dict:
    return {
        "name": card.name,
        "model": card.name,
        "size": card.size,
        "digest": card.digest,
        "details": details(card),
        "expires_at": NEVER_EXPIRES,
        "size_vram": 0,
        "context_length": context_length,
    }


def metrics(
    *, total_ns: int, load_ns: int, prompt_eval_count: int, prompt_eval_ns: int, eval_count: int, eval_ns: int
) -> dict:
    """The `Metrics` fields of a final line, all durations in nanoseconds."""
    return {
        "total_duration": total_ns,
        "load_duration": load_ns,
        "prompt_eval_count": prompt_eval_count,
        "prompt_eval_duration": prompt_eval_ns,
        "eval_count": eval_count,
        "eval_duration": eval_ns,
    }


def chat_line(model: str, content: str, logprobs: list[dict] | None = None) -> dict:
    line = {
        "model": model,
        "created_at": timestamp(),
        "message": {"role": "assistant", "content": content},
        "done": False,
    }
    if logprobs:
        line["logprobs"] = logprobs
    return line


def generate_line(model: str, response: str, logprobs: list[dict] | None = None) -> dict:
    line = {"model": model, "created_at": timestamp(), "response": response, "done": False}
    if logprobs:
        line["logprobs"] = logprobs
    return line
