"""The Ollama CLI's request signatures (`OLLAMA_AUTH=1`), checked against users' registered public keys.

The Ollama CLI cannot send a bearer key to another host; with `OLLAMA_AUTH=1` it signs every request
with the ed25519 key in `~/.ollama/id_ed25519` (ollama/ollama `api/client.go` `do` and `stream`,
`auth/auth.go` `Sign`):

- it adds `ts=<unix seconds>` to the URL's query;
- it signs the bytes `"<METHOD>,<path>?ts=<unix seconds>"`, where path is the API path it called
  (`/api/chat`, `/`, `/api/blobs/sha256:…`), without the path part of `OLLAMA_HOST`;
- it sends `Authorization: <public key>:<signature>` with no scheme: the base64 SSH wire form of the
  public key (the second field of its `ssh-ed25519 AAAA…` line) and the standard base64 of the raw
  64-byte ed25519 signature.

A signature is accepted when the public key is registered (OllamaPublicKey, bound to one of the
user's API keys, whose allow-list, scope and quotas then apply), the signature verifies, `ts` is
within SIGNATURE_MAX_AGE seconds of the server's clock, and the same signature has been seen fewer
than SIGNATURE_MAX_USES times. The signed text has no nonce and ed25519 is deterministic, so the CLI
itself repeats a signature when it calls the same route twice within a second (`ollama run` sends
`/api/show` twice at start-up): a strict single use would break it. Seen signatures are counted per
process, or in Redis (shared by all processes) when REDIS_URL is set.
"""

import asyncio
import base64
import binascii
import hashlib
import time
from urllib.parse import urlencode

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError

from ollamaweb.core.db import run_in_thread
from ollamaweb.core.errors import AuthenticationFailed

from .cache import STALE_RETRY_SECONDS, KeyIdentity, key_cache
from .models import OllamaPublicKey

KEY_TYPE = "ssh-ed25519"
MAX_ENTRIES = 100_000

UNKNOWN_KEY = (
    "This Ollama public key is not registered. Add the contents of ~/.ollama/id_ed25519.pub "
    "under 'Ollama keys' in the ollamaweb portal."
)
BAD_SIGNATURE = "The request signature is invalid."
STALE = (
    "The request signature has expired or its timestamp is in the future (ts must be within {age} seconds of "
    "the server's time): check this computer's clock."
)
REPLAYED = "This request signature has already been used; sign a new request."
MISSING_TS = "A signed request needs its ts query parameter."


class PublicKeyError(ValueError):
    """The text is not an ed25519 public key in OpenSSH form."""


def _ssh_string(data: bytes, offset: int) -> tuple[bytes, int]:
    if offset + 4 > len(data):
        raise PublicKeyError("The public key is truncated.")
    length = int.from_bytes(data[offset : offset + 4], "big")
    end = offset + 4 + length
    if end > len(data):
        raise PublicKeyError("The public key is truncated.")
    return data[offset + 4 : end], end


def raw_key(blob_b64: str) -> bytes:
    """The 32 raw key bytes of an `ssh-ed25519` public key blob (base64 of the SSH wire form)."""
    try:
        blob = base64.b64decode(blob_b64, validate=True)
    except (binascii.Error, ValueError):
        raise PublicKeyError("The public key is not valid base64.") from None
    key_type, offset = _ssh_string(blob, 0)
    if key_type != KEY_TYPE.encode():
        raise PublicKeyError(f"Only {KEY_TYPE} keys are supported (Ollama's ~/.ollama/id_ed25519.pub).")
    key, offset = _ssh_string(blob, offset)
    if len(key) != 32 or offset != len(blob):
        raise PublicKeyError("The public key is not a valid ed25519 key.")
    return key


def parse_public_key(text: str) -> tuple[str, str]:
    """(base64 blob, comment) of an `ssh-ed25519 AAAA… [comment]` line (or of the bare blob)."""
    fields = text.strip().split(None, 2)
    if not fields:
        raise PublicKeyError("Paste the contents of ~/.ollama/id_ed25519.pub.")
    if fields[0] == KEY_TYPE:
        if len(fields) < 2:
            raise PublicKeyError("The public key is missing after 'ssh-ed25519'.")
        blob, comment = fields[1], fields[2] if len(fields) > 2 else ""
    elif fields[0].startswith("ssh-") or fields[0].startswith("ecdsa-"):
        raise PublicKeyError(f"Only {KEY_TYPE} keys are supported (Ollama's ~/.ollama/id_ed25519.pub).")
    elif len(fields) == 1:
        blob, comment = fields[0], ""
    else:
        raise PublicKeyError("Paste one line of the form 'ssh-ed25519 AAAA…'.")
    raw_key(blob)
    return blob, comment.strip()


def fingerprint(blob_b64: str) -> str:
    """The key's fingerprint as `ssh-keygen -l` prints it: SHA256:<unpadded base64>."""
    digest = hashlib.sha256(base64.b64decode(blob_b64)).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def parse_authorization(header: str) -> tuple[str, bytes] | None:
    """(public key blob, signature) of an Ollama signature header, or None if it is not one."""
    header = header.strip()
    if not header or " " in header or header.count(":") != 1:
        return None
    blob, _, signature = header.partition(":")
    if not blob.startswith("AAAA"):
        return None
    try:
        signature_bytes = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return None
    return blob, signature_bytes


def looks_signed(header: str) -> bool:
    return parse_authorization(header) is not None


def challenge(method: str, path: str, query: list[tuple[str, str]]) -> bytes:
    """What the client signed: `METHOD,path?query` with the query encoded as Go's url.Values does
    (sorted by key; the CLI sends only ts, so this is `METHOD,path?ts=N`)."""
    return f"{method.upper()},{path}?{urlencode(sorted(query, key=lambda item: item[0]))}".encode()


def verify(blob_b64: str, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(raw_key(blob_b64)).verify(signature, message)
    except (InvalidSignature, PublicKeyError, ValueError):
        return False
    return True


class ReplayGuard:
    """Counts each signature's uses while its timestamp is acceptable (per process, or in Redis)."""

    def __init__(self):
        self._seen: dict[str, list] = {}  # token digest -> [expires at (monotonic), uses]
        self._sweep_at = 0.0

    async def use(self, token: str, lifetime: float) -> int:
        """Record one use of `token` and return how many times it has been used, this one included."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        if settings.REDIS_URL:
            return await asyncio.to_thread(_count_in_cache, f"ollamaweb:ollama-signature:{digest}", lifetime)
        now = time.monotonic()
        if now >= self._sweep_at or len(self._seen) >= MAX_ENTRIES:
            self._seen = {key: entry for key, entry in self._seen.items() if entry[0] > now}
            self._sweep_at = now + 10
        entry = self._seen.get(digest)
        if entry is None or entry[0] <= now:
            entry = self._seen[digest] = [now + lifetime, 0]
        entry[1] += 1
        return entry[1]

    def clear(self):
        self._seen.clear()


def _count_in_cache(key: str, lifetime: float) -> int:
    timeout = max(1, int(lifetime) + 1)
    cache.add(key, 0, timeout)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout)
        return 1


class PublicKeyDirectory:
    """Registered public key blob -> the prefix of the API key it acts as (None: not registered).

    Trusted for API_KEY_CACHE_TTL seconds, like the API-key cache; saves in this process forget at once.
    """

    def __init__(self):
        self._entries: dict[str, tuple[float, str | None]] = {}

    async def prefix_for(self, blob: str) -> str | None:
        entry = self._entries.get(blob)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        try:
            prefix = await run_in_thread(_lookup_prefix, blob)
        except DatabaseError:
            if entry is None:
                raise
            # The database does not answer: a key known a moment ago stays as it was (as in cache.py).
            self._entries[blob] = (time.monotonic() + STALE_RETRY_SECONDS, entry[1])
            return entry[1]
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[blob] = (time.monotonic() + settings.API_KEY_CACHE_TTL, prefix)
        return prefix

    def invalidate(self, blob: str | None = None):
        if blob is None:
            self._entries.clear()
        else:
            self._entries.pop(blob, None)


def _lookup_prefix(blob: str) -> str | None:
    row = OllamaPublicKey.objects.filter(public_key=blob).values_list("api_key__prefix", flat=True).first()
    return row


replay_guard = ReplayGuard()
public_keys = PublicKeyDirectory()


async def authenticate(
    method: str, path: str, query: list[tuple[str, str]], authorization: str, now: float | None = None
) -> KeyIdentity:
    """The identity of the API key a validly signed request acts as, or AuthenticationFailed.

    `path` is the request path as the client called it; `query` the request's query parameters.
    """
    parsed = parse_authorization(authorization)
    if parsed is None:
        raise AuthenticationFailed(BAD_SIGNATURE, code="invalid_signature")
    blob, signature = parsed
    try:
        raw_key(blob)  # malformed keys never reach the database
    except PublicKeyError:
        raise AuthenticationFailed(BAD_SIGNATURE, code="invalid_signature") from None
    if len(signature) != 64:
        raise AuthenticationFailed(BAD_SIGNATURE, code="invalid_signature")
    now = time.time() if now is None else now
    timestamps = [value for name, value in query if name == "ts"]
    if len(timestamps) != 1 or not timestamps[0].isdigit():
        raise AuthenticationFailed(MISSING_TS, code="invalid_signature")
    max_age = settings.SIGNATURE_MAX_AGE
    if abs(now - int(timestamps[0])) > max_age:
        raise AuthenticationFailed(STALE.format(age=max_age), code="signature_expired")
    prefix = await public_keys.prefix_for(blob)
    if prefix is None:
        raise AuthenticationFailed(UNKNOWN_KEY, code="unknown_public_key")
    if not verify(blob, signature, challenge(method, path, query)):
        raise AuthenticationFailed(BAD_SIGNATURE, code="invalid_signature")
    # Count only verified signatures, for as long as their timestamp stays acceptable.
    remaining = int(timestamps[0]) + max_age - now
    if await replay_guard.use(authorization.strip(), remaining + 1) > settings.SIGNATURE_MAX_USES:
        raise AuthenticationFailed(REPLAYED, code="signature_replayed")
    identity = await key_cache.get(prefix)
    if identity is None or not identity.usable:
        raise AuthenticationFailed(
            "The API key this Ollama public key acts as has been revoked, or its account is disabled.",
            code="api_key_revoked",
        )
    if identity.expired(now):
        raise AuthenticationFailed("The API key this Ollama public key acts as has expired.", code="api_key_expired")
    return identity
