"""Native NDJSON streams for Ollama clients (pure): each backend chunk as it came, one per line.

Only `model` changes: it is the name the client asked for. The final chunk keeps Ollama's
`done_reason` and metrics (`total_duration`, `load_duration`, `prompt_eval_count`,
`prompt_eval_duration`, `eval_count`, `eval_duration`) and `context` for /api/generate.
"""

import orjson

MEDIA_TYPE = "application/x-ndjson"


def line(obj: dict) -> bytes:
    return orjson.dumps(obj) + b"\n"


def error_line(message: str) -> bytes:
    """An error after the stream has started: Ollama ends the stream with `{"error": ...}`."""
    return line({"error": message})


class NativeStream:
    """The stream translator for /api/chat and /api/generate (one backend call per request)."""

    media_type = MEDIA_TYPE

    def __init__(self, model: str):
        self.model = model

    def feed(self, index: int, chunk: dict) -> bytes:
        if "model" in chunk:
            chunk = {**chunk, "model": self.model}
        return line(chunk)

    def end(self, prompt_tokens: int, completion_tokens: int) -> bytes:
        return b""
