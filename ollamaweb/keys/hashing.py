"""Making and checking API key secrets.

A key is `sk-` plus 43 random URL-safe characters. Only its first PREFIX_LENGTH characters
(for lookup and display) and an HMAC-SHA256 of the whole key are stored; the HMAC key is
derived from SECRET_KEY so a stolen database alone cannot be used to test guesses offline.
"""

import hashlib
import hmac
import secrets

from django.conf import settings

KEY_PREFIX = "sk-"
PREFIX_LENGTH = 12


def _hmac_key() -> bytes:
    return hashlib.sha256(b"ollamaweb api key v1:" + settings.SECRET_KEY.encode()).digest()


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hmac.new(_hmac_key(), secret.encode(), hashlib.sha256).hexdigest()


def matches(secret: str, hashed: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), hashed)


def prefix_of(secret: str) -> str:
    return secret[:PREFIX_LENGTH]


def looks_like_key(secret: str) -> bool:
    return secret.startswith(KEY_PREFIX) and PREFIX_LENGTH < len(secret) <= 200
