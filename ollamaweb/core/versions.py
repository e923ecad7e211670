"""Ollama versions and the features each one has (from Ollama's history; see docs/ollama-api.md)."""

from .errors import InvalidRequest

FEATURES = {
    "logprobs": (0, 12, 11),
    "think": (0, 9, 0),
    "tool_call_ids": (0, 11, 4),  # tool results matched by id, tool_name on tool messages
    "union_types": (0, 9, 0),  # JSON-schema type arrays like ["string", "null"] in tool parameters
    "embed_dimensions": (0, 11, 11),
}


def parse_version(text: str) -> tuple[int, ...] | None:
    """`0.6.5` → (0, 6, 5); `0.33.0-rc2` → (0, 33, 0); unknown → None."""
    numbers = []
    for part in (text or "").split("-", 1)[0].split("."):
        if not part.isdigit():
            break
        numbers.append(int(part))
    return tuple(numbers) or None


def has(version: tuple[int, ...] | None, feature: str) -> bool:
    """Unknown versions are assumed current."""
    return version is None or version >= FEATURES[feature]


def supports(version: tuple[int, ...] | None, features) -> bool:
    return all(has(version, feature) for feature in features)


def required_features(native: dict) -> frozenset:
    """Features a native request cannot do without (others are adapted for older backends)."""
    needed = set()
    if native.get("logprobs"):
        needed.add("logprobs")
    if native.get("think") not in (None, False):
        needed.add("think")
    return frozenset(needed)


def adapt_request(native: dict, version: tuple[int, ...] | None, backend: str) -> dict:
    """The native request as a backend of `version` understands it, or a 400 naming the version.

    Meaning is kept where it can be: tool results fall back to matching by position, JSON-schema
    type unions become their non-null type. `dimensions` is applied by the gateway instead.
    """
    if version is None:
        return native
    running = f"backend {backend} runs Ollama {'.'.join(map(str, version))}"
    native = dict(native)
    if native.get("logprobs") and not has(version, "logprobs"):
        raise InvalidRequest(
            f"logprobs are not available: {running}, which cannot return them.",
            param="logprobs",
            code="unsupported_parameter",
        )
    if "think" in native and not has(version, "think"):
        if native["think"] not in (None, False):
            raise InvalidRequest(
                f"Reasoning is not available: {running}, which has no thinking support.",
                param="reasoning_effort",
                code="unsupported_parameter",
            )
        del native["think"]
    if not has(version, "tool_call_ids") and "messages" in native:
        native["messages"] = [_without_tool_ids(message) for message in native["messages"]]
    if not has(version, "union_types") and native.get("tools"):
        native["tools"] = [_single_types(tool) for tool in native["tools"]]
    if native.get("dimensions") and not has(version, "embed_dimensions"):
        del native["dimensions"]
    return native


def adapt_result(native: dict, sent: dict, result: dict) -> dict:
    """A backend's result as a current backend would have given it for `native` (sent as `sent`)."""
    if native.get("dimensions") and "dimensions" not in sent:  # an old backend: shorten here
        result["embeddings"] = [shorten(vector, native["dimensions"]) for vector in result.get("embeddings") or ()]
    return result


def shorten(vector: list[float], dimensions: int) -> list[float]:
    """The first `dimensions` values, L2-normalised again (what Ollama does with `dimensions`)."""
    if not 0 < dimensions < len(vector):
        return vector
    head = vector[:dimensions]
    norm = sum(value * value for value in head) ** 0.5
    return [value / norm for value in head] if norm else head


def _without_tool_ids(message: dict) -> dict:
    message = {k: v for k, v in message.items() if k not in ("tool_call_id", "tool_name")}
    if message.get("tool_calls"):
        message["tool_calls"] = [{k: v for k, v in call.items() if k != "id"} for call in message["tool_calls"]]
    return message


def _single_types(schema):
    """Replace JSON-schema type unions (["string", "null"]) by their first non-null type, recursively."""
    if isinstance(schema, list):
        return [_single_types(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: _single_types(value) for key, value in schema.items()}
    if isinstance(schema.get("type"), list):
        types = [t for t in schema["type"] if t != "null"] or ["string"]
        result["type"] = types[0]
    return result
