"""API-key authentication: the identity behind a presented secret (never echoed back)."""

import time

from django.db import DatabaseError

from ollamaweb.core.errors import AuthenticationFailed, Unavailable
from ollamaweb.keys import hashing
from ollamaweb.keys.cache import KeyIdentity, key_cache

INCORRECT_KEY = "Incorrect API key provided. Create a key in the ollamaweb portal or with `manage.py createapikey`."


def bearer_secret(request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else ""


async def authenticate(secret: str, missing_key_hint: str = "") -> KeyIdentity:
    """The key identity behind `secret`, or AuthenticationFailed."""
    if not secret:
        raise AuthenticationFailed(f"You didn't provide an API key. {missing_key_hint}".strip())
    try:
        identity = await key_cache.get(hashing.prefix_of(secret)) if hashing.looks_like_key(secret) else None
    except DatabaseError:
        raise Unavailable(
            "API keys cannot be checked right now (the database does not answer); try again shortly.",
            code="auth_unavailable",
        ) from None
    if identity is None or not hashing.matches(secret, identity.hashed_key):
        raise AuthenticationFailed(INCORRECT_KEY)
    if not identity.usable:
        raise AuthenticationFailed("This API key has been revoked, or its account is disabled.", code="api_key_revoked")
    if identity.expired(time.time()):
        raise AuthenticationFailed("This API key has expired.", code="api_key_expired")
    return identity
