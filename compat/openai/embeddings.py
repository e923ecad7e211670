"""/v1/embeddings ⇄ Ollama /api/embed."""

import base64
import struct
from dataclasses import dataclass

from ollamaweb.core.errors import InvalidRequest

from .common import TOKEN_COUNT_MAX, get_int, get_string, require_object, texts_or_token_lists

ENCODING_FORMATS = ("float", "base64")


@dataclass
class EmbeddingsRequest:
    model: str
    inputs: list  # texts, or lists of token ids (token_ids=True) to be decoded before calling Ollama
    native: dict  # /api/embed body without `model` and `input`
    encoding_format: str = "float"
    client_user: str = ""
    token_ids: bool = False


def parse_embeddings_request(body) -> EmbeddingsRequest:
    body = require_object(body)
    model = get_string(body, "model", required=True, allow_empty=False)
    inputs, token_ids = texts_or_token_lists(body.get("input"), "input")
    encoding_format = (get_string(body, "encoding_format") or "float").lower()
    if encoding_format not in ENCODING_FORMATS:
        raise InvalidRequest(
            f"Invalid value for 'encoding_format': {body['encoding_format']!r}; supported values are 'float' and 'base64'.",
            param="encoding_format",
            code="invalid_value",
        )
    native = {"truncate": True}
    dimensions = get_int(body, "dimensions", minimum=1, maximum=TOKEN_COUNT_MAX)
    if dimensions is not None:
        native["dimensions"] = dimensions
    return EmbeddingsRequest(model, inputs, native, encoding_format, get_string(body, "user") or "", token_ids)


def encode_base64(vector: list[float]) -> str:
    """Little-endian float32 bytes, base64-encoded, as OpenAI's `encoding_format: base64`."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def embeddings_body(native: dict, model: str, encoding_format: str) -> dict:
    vectors = native.get("embeddings") or []
    encode = encode_base64 if encoding_format == "base64" else list
    tokens = int(native.get("prompt_eval_count") or 0)
    return {
        "object": "list",
        "data": [{"object": "embedding", "embedding": encode(vector), "index": i} for i, vector in enumerate(vectors)],
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
