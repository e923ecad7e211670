"""Turn a request's `options`, `format` and `logprobs` fields into generation settings.

Defaults are Ollama's. Like Ollama, a wrongly typed option is a 500 and unknown
keys are ignored.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, fields, replace

from llama_cpp.llama_grammar import JSON_GBNF, json_schema_to_gbnf

from engine.protocol import APIError

log = logging.getLogger("engine")

# Accepted for compatibility; they tune hardware use that the engine decides itself.
IGNORED_OPTIONS = frozenset(
    {
        "num_batch",
        "num_gpu",
        "main_gpu",
        "num_thread",
        "use_mmap",
        "use_mlock",
        "low_vram",
        "numa",
        "vocab_only",
        "f16_kv",
        "mirostat",
        "mirostat_tau",
        "mirostat_eta",
        "penalize_newline",
        "tfs_z",
        "draft_num_predict",
    }
)
MAX_TOP_LOGPROBS = 20


@dataclass(frozen=True)
class GenerationOptions:
    temperature: float = 0.8
    top_k: int = 40
    top_p: float = 0.9
    min_p: float = 0.0
    typical_p: float = 1.0
    repeat_penalty: float = 1.1
    repeat_last_n: int = 64
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    seed: int = -1
    num_predict: int = -1
    num_ctx: int = 0  # 0: the engine's default
    num_keep: int = 4
    stop: tuple[str, ...] = ()
    grammar: str | None = None  # GBNF text from `format`
    logprobs: bool = False
    top_logprobs: int = 0


_NOT_OPTIONS = ("grammar", "logprobs", "top_logprobs")
_OPTION_TYPES = {f.name: f.type for f in fields(GenerationOptions) if f.name not in _NOT_OPTIONS}
_OPTION_TYPES["stop"] = "list"


def _coerce(key: str, value: object, kind: str) -> object:
    """Check one option's JSON type the way Ollama's `Options.FromMap` does."""
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "int" and is_number:
        return int(value)
    if kind == "float" and is_number:
        return float(value)
    if kind == "list" and isinstance(value, list):
        if all(isinstance(item, str) for item in value):
            return tuple(value)
        raise APIError(500, f'option "{key}" must be of type array of strings')
    expected = {"int": "integer", "float": "float", "list": "array"}[kind]
    raise APIError(500, f'option "{key}" must be of type {expected}')


def _grammar(fmt: object) -> str | None:
    if fmt is None or fmt == "":
        return None
    if fmt == "json":
        return JSON_GBNF
    if isinstance(fmt, dict):
        try:
            return json_schema_to_gbnf(json.dumps(fmt))
        except Exception as exc:  # the converter raises bare exceptions
            raise APIError(400, f"invalid JSON schema in format: {exc}") from exc
    raise APIError(400, 'invalid format: expected "json" or a valid JSON schema')


def parse_generation(body: dict) -> GenerationOptions:
    raw = body.get("options") or {}
    if not isinstance(raw, dict):
        raise APIError(400, "options must be an object")
    values = {}
    for key, value in raw.items():
        if key in _OPTION_TYPES:
            if value is not None:
                values[key] = _coerce(key, value, _OPTION_TYPES[key])
        elif key not in IGNORED_OPTIONS:
            log.info("ignoring unknown option %r", key)
    top_logprobs = body.get("top_logprobs") or 0
    if not isinstance(top_logprobs, int) or not 0 <= top_logprobs <= MAX_TOP_LOGPROBS:
        raise APIError(400, f"top_logprobs must be between 0 and {MAX_TOP_LOGPROBS}")
    return replace(
        GenerationOptions(**values),
        grammar=_grammar(body.get("format")),
        logprobs=bool(body.get("logprobs")),
        top_logprobs=top_logprobs,
    )
