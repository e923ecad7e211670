"""Which API key an Anthropic client presents: `x-api-key` (the SDK's `api_key`, ANTHROPIC_API_KEY)
or `Authorization: Bearer` (`auth_token`, ANTHROPIC_AUTH_TOKEN, as Claude Code sends it to gateways)."""

from collections.abc import Mapping

from ollamaweb.core.errors import AuthenticationFailed

MISSING_KEY_HINT = (
    "Send your ollamaweb key in an x-api-key header or as Authorization: Bearer (Claude Code: ANTHROPIC_AUTH_TOKEN)."
)
TWO_KEYS = (
    "The x-api-key header and Authorization: Bearer carry different keys; send one ollamaweb key "
    "(with Claude Code, set ANTHROPIC_AUTH_TOKEN and leave ANTHROPIC_API_KEY empty)."
)


def presented_key(headers: Mapping[str, str]) -> str:
    """The secret presented, or "" when there is none; both headers must then carry the same key."""
    api_key = (headers.get("x-api-key") or "").strip()
    scheme, _, token = (headers.get("Authorization") or "").strip().partition(" ")
    bearer = token.strip() if scheme.lower() == "bearer" else ""
    if api_key and bearer and api_key != bearer:
        raise AuthenticationFailed(TWO_KEYS, code="conflicting_api_keys")
    return api_key or bearer
