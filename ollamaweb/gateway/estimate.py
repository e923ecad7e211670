"""Estimating a native request's prompt size before the backend has counted it (for reservations)."""


def estimate_tokens(text_length: int) -> int:
    """A rough token count (4 characters a token) for when the backend reports none."""
    return (text_length + 3) // 4


def prompt_estimate(path: str, payload: dict) -> int:
    """The prompt tokens one native call may use, estimated from what it sends."""
    if path == "/api/chat":
        return estimate_tokens(sum(len(m.get("content") or "") + 16 for m in payload.get("messages") or ()))
    if path == "/api/embed":
        inputs = payload.get("input")
        texts = [inputs] if isinstance(inputs, str) else inputs or ()
        return estimate_tokens(sum(len(text) for text in texts if isinstance(text, str)))
    return estimate_tokens(len(payload.get("prompt") or ""))
