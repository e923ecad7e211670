"""Keep secrets out of audit rows: a pure function over JSON-like values.

A value is replaced by REDACTED when the last word of its key names a secret (hashed_key, secret,
password, token, token_hash, client_secret ...; not max_tokens). Header mappings (`headers`, e.g. a
backend's Authorization header for an Ollama behind a proxy) keep their names and lose every value. Strings that look like an API key
(`sk-…`) are redacted wherever they appear.
"""

import re

REDACTED = "[redacted]"
SECRET_KEY_PATTERN = re.compile(
    r"(^|_)(secret|secrets|password|passwd|token|hash|hashed_key|private_key|authorization|cookie|"
    r"credential|credentials)$",
    re.IGNORECASE,
)
HEADER_KEYS = {"headers", "header", "extra_headers"}
API_KEY_PATTERN = re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}")


def is_secret_field(name: str) -> bool:
    return bool(SECRET_KEY_PATTERN.search(str(name)))


def scrub(value, _key: str = ""):
    """A copy of `value` (dicts, lists, scalars) without secrets."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if is_secret_field(key):
                out[key] = REDACTED if item not in (None, "", [], {}) else item
            elif str(key).lower() in HEADER_KEYS and isinstance(item, dict):
                out[key] = {name: REDACTED for name in item}
            else:
                out[key] = scrub(item, str(key))
        return out
    if isinstance(value, list | tuple):
        return [scrub(item, _key) for item in value]
    if isinstance(value, str):
        return API_KEY_PATTERN.sub("sk-" + REDACTED, value)
    return value
