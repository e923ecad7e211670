"""The Playground's API key: how the browser chat gets a key without the server keeping a secret.

The Playground page calls `/v1/chat/completions` itself (so quotas, logs and allow-lists apply
exactly as to any client). Its key is handled like this:

* The server never stores a secret in plaintext (API keys are HMAC-hashed, see keys/hashing.py),
  so it cannot hand an existing key back to the page. Instead, when the page has no key, its
  script POSTs (with the CSRF token, signed in) to `playground/key/`, which issues a new key
  named PLAYGROUND_KEY_NAME and returns its secret once, in a `Cache-Control: no-store` JSON
  response.
* The secret lives only in the tab's `sessionStorage` (gone when the tab closes; never in a
  cookie, never in the server's session or database).
* The key is short-lived (PLAYGROUND_KEY_TTL) and unrestricted in models (it can use what the
  user can). Each user has at most one live Playground key: issuing one revokes the previous one,
  and signing out revokes it. A tab whose key was revoked or expired gets a 401 and asks for a
  new key once, transparently.
* Portal pages are served with a strict Content-Security-Policy (no inline or third-party
  script), which limits what an injected script could do with the key.
"""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from ollamaweb.keys.models import ApiKey
from ollamaweb.keys.services import issue_key, revoke_key

PLAYGROUND_KEY_NAME = "Playground (browser session)"
PLAYGROUND_KEY_TTL = timedelta(hours=12)


def playground_keys(user):
    return ApiKey.objects.filter(user=user, name=PLAYGROUND_KEY_NAME, revoked=False)


def revoke_playground_keys(user) -> int:
    count = 0
    for key in playground_keys(user):
        revoke_key(key, actor=user)
        count += 1
    return count


def issue_playground_key(user) -> tuple[ApiKey, str]:
    """Revoke the user's previous Playground key and issue a fresh one: (key, secret)."""
    with transaction.atomic():
        revoke_playground_keys(user)
        return issue_key(user, PLAYGROUND_KEY_NAME, expires_at=timezone.now() + PLAYGROUND_KEY_TTL, actor=user)
