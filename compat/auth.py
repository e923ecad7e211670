"""API-key authentication for /v1: `Authorization: Bearer sk-…` or Azure-style `api-key: sk-…`."""

import time

from ollamaweb.keys import tokens
from ollamaweb.keys.cache import KeyIdentity, key_cache

from .errors import AuthenticationFailed

MISSING_KEY = (
    "You didn't provide an API key. Send it in an Authorization header "
    "(Authorization: Bearer sk-...) or an api-key header."
)
INCORRECT_KEY = "Incorrect API key provided. Create a key in the ollamaweb portal or with `manage.py createapikey`."


def presented_secret(request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.headers.get("api-key", "").strip()


async def authenticate(request) -> KeyIdentity:
    """The key identity behind the request, or AuthenticationFailed (the secret is never echoed)."""
    secret = presented_secret(request)
    if not secret:
        raise AuthenticationFailed(MISSING_KEY)
    identity = await key_cache.get(tokens.prefix_of(secret)) if tokens.looks_like_key(secret) else None
    if identity is None or not tokens.matches(secret, identity.hashed_key):
        raise AuthenticationFailed(INCORRECT_KEY)
    if not identity.usable:
        raise AuthenticationFailed("This API key has been revoked, or its account is disabled.", code="api_key_revoked")
    if identity.expired(time.time()):
        raise AuthenticationFailed("This API key has expired.", code="api_key_expired")
    return identity
