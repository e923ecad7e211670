"""Estimating a native request's prompt before the backend has counted it (for reservations).

The estimate errs high: it counts everything sent to the model (messages, tool calls, tools,
schemas, system prompt, suffix) at one token per 3 bytes of UTF-8 (English runs ~4 characters a
token; CJK ~1 character a token, which is 3 bytes), every message at MESSAGE_TOKENS more (the chat
template's role markers), and every image at IMAGE_TOKEN_COST tokens.
"""

import orjson
from django.conf import settings

# Fields of a native request that do not reach the model as text.
MESSAGE_TOKENS = 8
NOT_PROMPT = {"model", "stream", "options", "keep_alive", "images", "think", "logprobs", "top_logprobs", "raw"}


def estimate_tokens(text_length: int) -> int:
    """A rough token count (4 characters a token) for when the backend reports none."""
    return (text_length + 3) // 4


def _bytes_and_images(value) -> tuple[int, int]:
    if isinstance(value, dict):
        size, images = 0, len(value.get("images") or ())
        for key, item in value.items():
            if key not in NOT_PROMPT:
                item_size, item_images = _bytes_and_images(item)
                size, images = size + item_size, images + item_images
        return size, images
    if isinstance(value, list):
        size = images = 0
        for item in value:
            item_size, item_images = _bytes_and_images(item)
            size, images = size + item_size, images + item_images
        return size, images
    if isinstance(value, str):  # an ASCII string's length is its size, without a copy (isascii() is O(1))
        return (len(value) if value.isascii() else len(value.encode(errors="replace"))), 0
    return len(orjson.dumps(value)), 0


def prompt_estimate(path: str, payload: dict) -> int:
    """The prompt tokens one native call may use, estimated high from everything it sends."""
    size, images = _bytes_and_images(payload)
    messages = len(payload.get("messages") or ())
    return (size + 2) // 3 + MESSAGE_TOKENS * messages + images * settings.IMAGE_TOKEN_COST
