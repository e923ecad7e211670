"""Field validation and pieces shared by the OpenAI ⇄ Ollama translations (pure functions)."""

import math
import secrets
from datetime import datetime

import orjson

from ollamaweb.core.errors import InvalidRequest

_MISSING = object()


def _random_alphanumeric(length: int) -> str:
    """Uniform over [A-Za-z0-9]: URL-safe base64 without its two symbols (far faster than choice())."""
    text = ""
    while len(text) < length:
        text += secrets.token_urlsafe(length).replace("-", "").replace("_", "")
    return text[:length]


def new_id(prefix: str, length: int = 29) -> str:
    """Unique response ids like OpenAI's (`chatcmpl-` + 29 random characters)."""
    return prefix + _random_alphanumeric(length)


def new_tool_call_id() -> str:
    return "call_" + _random_alphanumeric(24)


def type_name(value) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), type(value).__name__
    )


def require_object(body) -> dict:
    if not isinstance(body, dict):
        raise InvalidRequest(f"The request body must be a JSON object, not {type_name(body)}.")
    return body


def get_string(body: dict, name: str, *, required=False, param=None, allow_empty=True):
    value = body.get(name, _MISSING)
    param = param or name
    if value is _MISSING or value is None:
        if required:
            raise InvalidRequest(
                f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
            )
        return None
    if not isinstance(value, str):
        raise InvalidRequest(
            f"Invalid type for '{param}': expected a string, got {type_name(value)}.", param=param, code="invalid_type"
        )
    if not allow_empty and not value:
        raise InvalidRequest(f"'{param}' must not be empty.", param=param, code="invalid_value")
    return value


def get_bool(body: dict, name: str, default=None, param=None):
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidRequest(
            f"Invalid type for '{param or name}': expected a boolean, got {type_name(value)}.",
            param=param or name,
            code="invalid_type",
        )
    return value


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # what Ollama's Go integers hold
TOKEN_COUNT_MAX = 2**31 - 1


def get_int(body: dict, name: str, *, minimum=INT64_MIN, maximum=INT64_MAX, param=None):
    value = body.get(name)
    param = param or name
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(
            f"Invalid type for '{param}': expected an integer, got {type_name(value)}.",
            param=param,
            code="invalid_type",
        )
    _check_range(value, minimum, maximum, param)
    return value


def get_number(body: dict, name: str, *, minimum=None, maximum=None, param=None):
    value = body.get(name)
    param = param or name
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidRequest(
            f"Invalid type for '{param}': expected a number, got {type_name(value)}.", param=param, code="invalid_type"
        )
    _check_range(value, minimum, maximum, param)
    return value


def _check_range(value, minimum, maximum, param):
    if minimum is not None and value < minimum:
        raise InvalidRequest(
            f"Invalid value for '{param}': {value} is less than the minimum of {minimum}.",
            param=param,
            code="invalid_value",
        )
    if maximum is not None and value > maximum:
        raise InvalidRequest(
            f"Invalid value for '{param}': {value} is greater than the maximum of {maximum}.",
            param=param,
            code="invalid_value",
        )


def get_stop(body: dict) -> list[str] | None:
    stop = body.get("stop")
    if stop is None:
        return None
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and all(isinstance(item, str) for item in stop):
        return list(stop)
    raise InvalidRequest(
        "Invalid type for 'stop': expected a string or an array of strings.", param="stop", code="invalid_type"
    )


def get_stream_options(body: dict, stream: bool) -> bool:
    """Whether the client asked for a usage chunk (`stream_options.include_usage`)."""
    options = body.get("stream_options")
    if options is None:
        return False
    if not stream:
        raise InvalidRequest(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.", param="stream_options"
        )
    if not isinstance(options, dict):
        raise InvalidRequest(
            "Invalid type for 'stream_options': expected an object.", param="stream_options", code="invalid_type"
        )
    return bool(get_bool(options, "include_usage", False, param="stream_options.include_usage"))


def get_n(body: dict, maximum: int) -> int:
    n = get_int(body, "n", minimum=1, param="n")
    if n is not None and n > maximum:
        raise InvalidRequest(
            f"Invalid value for 'n': at most {maximum} choices per request on this server.",
            param="n",
            code="invalid_value",
        )
    return n or 1


def check_logit_bias(body: dict):
    """Accept an empty logit_bias; refuse one we cannot honour instead of ignoring it silently."""
    bias = body.get("logit_bias")
    if bias is None or bias == {}:
        return
    if not isinstance(bias, dict):
        raise InvalidRequest(
            "Invalid type for 'logit_bias': expected an object.", param="logit_bias", code="invalid_type"
        )
    raise InvalidRequest(
        "logit_bias is not supported: Ollama backends cannot bias token ids. Remove it or send an empty object.",
        param="logit_bias",
        code="unsupported_parameter",
    )


def sampling_options(body: dict) -> dict:
    """OpenAI sampling fields → Ollama `options` (only what the client sent, so Modelfile defaults hold)."""
    options = {}
    for name in ("temperature",):
        value = get_number(body, name, minimum=0, maximum=2)
        if value is not None:
            options[name] = value
    top_p = get_number(body, "top_p", minimum=0, maximum=1)
    if top_p is not None:
        options["top_p"] = top_p
    for name in ("frequency_penalty", "presence_penalty"):
        value = get_number(body, name, minimum=-2, maximum=2)
        if value is not None:
            options[name] = value
    seed = get_int(body, "seed")
    if seed is not None:
        options["seed"] = seed
    stop = get_stop(body)
    if stop is not None:
        options["stop"] = stop
    # Ollama options the OpenAI API lacks, accepted as extensions (Ollama's /v1 drops them).
    for name, minimum in (("top_k", 0), ("num_ctx", 1)):
        value = get_int(body, name, minimum=minimum, maximum=TOKEN_COUNT_MAX)
        if value is not None:
            options[name] = value
    for name in ("min_p", "repeat_penalty"):
        value = get_number(body, name, minimum=0)
        if value is not None:
            options[name] = value
    return options


def usage_body(prompt_tokens: int, completion_tokens: int) -> dict:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def choices_envelope(
    object_type: str, completion_id: str, created: int, model: str, choices: list[dict], usage: dict | None = None
) -> dict:
    """The body around `choices` of a chat or text completion, or of a chunk of one (`usage` only when given)."""
    body = {
        "id": completion_id,
        "object": object_type,
        "created": created,
        "model": model,
        "system_fingerprint": "fp_ollama",
        "choices": choices,
    }
    if usage is not None:
        body["usage"] = usage
    return body


def finish_reason(done_reason, had_tool_calls=False) -> str:
    if done_reason == "length":
        return "length"
    return "tool_calls" if had_tool_calls else "stop"


def unix_time(timestamp: str | None, default: int) -> int:
    """Unix seconds of an RFC 3339 timestamp as Ollama writes them (nanoseconds, `Z`)."""
    if not timestamp:
        return default
    text = timestamp.replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:
        zone = rest.lstrip("0123456789")
        digits = rest[: len(rest) - len(zone)]
        text = f"{head}.{digits[:6]}{zone}"
    try:
        return int(datetime.fromisoformat(text).timestamp())
    except ValueError:
        return default


def arguments_object(raw) -> dict | None:
    """Tool-call arguments as clients send them (a JSON object encoded as a string, or the object) as a dict;
    None when they are not one."""
    if isinstance(raw, str):
        try:
            raw = orjson.loads(raw or "{}")
        except orjson.JSONDecodeError:
            return None
    return raw if isinstance(raw, dict) else None


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def texts_or_token_lists(value, param: str) -> tuple[list, bool]:
    """OpenAI's text inputs (`input`, `prompt`): a string, strings, token ids or lists of token ids.

    Returns (items, whether they are token-id lists).
    """
    if value is None:
        raise InvalidRequest(f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter")
    if isinstance(value, str):
        return [value], False
    if value == []:
        raise InvalidRequest(f"'{param}' must not be empty.", param=param, code="invalid_value")
    if isinstance(value, list):
        if all(isinstance(item, str) for item in value):
            return list(value), False
        if all(is_int(item) for item in value):
            return [value], True
        if all(isinstance(item, list) and item and all(is_int(token) for token in item) for item in value):
            return list(value), True
    raise InvalidRequest(
        f"Invalid type for '{param}': expected a string, an array of strings, an array of token ids "
        "or an array of token-id arrays.",
        param=param,
        code="invalid_type",
    )
