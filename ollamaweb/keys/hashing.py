"""Making and checking API key secrets.

A key is `sk-` plus 43 random URL-safe characters. Only its first PREFIX_LENGTH characters
(for lookup and display) and an HMAC-SHA256 of the whole key are stored; the HMAC key is
derived from SECRET_KEY so a stolen database alone cannot be used to test guesses offline.
"""

import hashlib
import hmac
import secrets
from functools import lru_cache

from django.conf import settings

KEY_PREFIX = "sk-"
PREFIX_LENGTH = 12


@lru_cache(maxsize=4)
def _keyed_hmac_for(secret_key: str) -> hmac.HMAC:
    """An HMAC already keyed, to copy: `hmac.digest(key, msg, "sha256")` looks the digest up by name in
    OpenSSL 3 on every call, which cost ~20 µs of each authenticated request (bench/README.md)."""
    key = hashlib.sha256(b"ollamaweb api key v1:" + secret_key.encode()).digest()
    return hmac.new(key, digestmod=hashlib.sha256)


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    keyed = _keyed_hmac_for(settings.SECRET_KEY).copy()
    keyed.update(secret.encode())
    return keyed.hexdigest()


def matches(secret: str, hashed: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), hashed)


def prefix_of(secret: str) -> str:
    return secret[:PREFIX_LENGTH]


def looks_like_key(secret: str) -> bool:
    return secret.startswith(KEY_PREFIX) and PREFIX_LENGTH < len(secret) <= 200
