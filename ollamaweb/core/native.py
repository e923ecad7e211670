"""Reading Ollama's native results and stream chunks, whatever protocol the client speaks."""


def usage_of(native: dict) -> tuple[int, int]:
    """(prompt tokens, completion tokens) as Ollama reports them (`prompt_eval_count`, `eval_count`)."""
    return _count(native.get("prompt_eval_count")), _count(native.get("eval_count"))


def _count(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def has_output(chunk: dict) -> bool:
    """Whether a stream chunk carries generated output (text, thinking or tool calls)."""
    message = chunk.get("message")
    if message:
        return bool(message.get("content") or message.get("thinking") or message.get("tool_calls"))
    return bool(chunk.get("response") or chunk.get("thinking"))
