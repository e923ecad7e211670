"""Every write to API keys and to who may use them (users' active flag) goes through here.

Each function also forgets the affected keys in every cache (this process's, and the shared one
in Redis), so a change takes effect everywhere within OLLAMAWEB_KEY_CACHE_TTL (1 s by default),
and writes its audit rows: `actor` (who acts), `request` (where from) and `via` ("command" for the
command line) are passed on to ollamaweb.audit.services.record.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from ollamaweb.audit.services import delete_audited, record, snapshot

from . import hashing
from .cache import key_cache, shared_key
from .models import ApiKey, OllamaPublicKey
from .signatures import PublicKeyError, fingerprint, parse_public_key, public_keys


def forget_keys(prefixes) -> None:
    """Drop these keys from every cache (after the transaction that changed them commits)."""
    prefixes = list(prefixes)

    def forget():
        for prefix in prefixes:
            key_cache.invalidate(prefix)
        if settings.REDIS_URL and prefixes:
            cache.delete_many([shared_key(prefix) for prefix in prefixes])

    forget()  # at once too: a reader in this process must not keep using a cached entry meanwhile
    transaction.on_commit(forget)


USER_AUDIT_EXCLUDE = ("password", "last_login")


def issue_key(
    user, name: str = "", expires_at=None, allowed_models=(), team=None, *, actor=None, request=None, via=""
) -> tuple[ApiKey, str]:
    """Create a key and return (key, secret); the secret is shown once and never stored.

    With `team`, a team (service) key: charged to the team; `user` is the member who created it.
    """
    while True:
        secret = hashing.new_secret()
        prefix = hashing.prefix_of(secret)
        if not ApiKey.objects.filter(prefix=prefix).exists():
            break
    key = ApiKey.objects.create(
        user=user,
        team=team,
        name=name,
        prefix=prefix,
        hashed_key=hashing.hash_secret(secret),
        expires_at=expires_at,
        allowed_models=list(allowed_models),
    )
    forget_keys([prefix])  # a cached "no such key" for this prefix must not outlive it
    record(actor, "key.create", key, after=snapshot(key), request=request, via=via)
    return key, secret


def update_key(key: ApiKey, *, actor=None, request=None, via="", **fields) -> ApiKey:
    """Change a key's name, expiry or allowed models (its owner and secret never change)."""
    before = snapshot(key)
    for name, value in fields.items():
        if name not in ("name", "expires_at", "allowed_models"):
            raise ValueError(f"a key's {name} cannot be changed")
        setattr(key, name, value)
    key.save(update_fields=list(fields))
    forget_keys([key.prefix])
    after = snapshot(key)
    if after != before:
        record(actor, "key.update", key, before=before, after=after, request=request, via=via)
    return key


def revoke_keys(keys, *, actor=None, request=None, via="") -> int:
    """Revoke keys (a queryset or list); returns how many were live."""
    live = [key for key in keys if not key.revoked]
    befores = [snapshot(key) for key in live]
    now = timezone.now()
    ApiKey.objects.filter(pk__in=[key.pk for key in live]).update(revoked=True, revoked_at=now)
    for key, before in zip(live, befores):
        key.revoked, key.revoked_at = True, now
        record(actor, "key.revoke", key, before=before, after=snapshot(key), request=request, via=via)
    forget_keys(key.prefix for key in live)
    return len(live)


def revoke_key(key: ApiKey, *, actor=None, request=None, via="") -> bool:
    return revoke_keys([key], actor=actor, request=request, via=via) == 1


def delete_keys(keys, *, actor=None, request=None, via="") -> int:
    keys = list(keys)
    count = delete_audited(actor, "key.delete", keys, request=request, via=via)
    forget_keys(key.prefix for key in keys)
    return count


def set_users_active(users, active: bool, *, actor=None, request=None, via="") -> int:
    """Activate or deactivate users (a queryset or list); their keys work, or stop, everywhere."""
    changed = [user for user in users if user.is_active != active]
    ids = [user.pk for user in changed]
    count = get_user_model().objects.filter(pk__in=ids).update(is_active=active)
    for user in changed:
        action = "user.activate" if active else "user.deactivate"
        before, after = {"is_active": not active}, {"is_active": active}
        record(actor, action, user, before=before, after=after, request=request, via=via)
    forget_keys(ApiKey.objects.filter(user_id__in=ids).values_list("prefix", flat=True))
    return count


def save_user(user, *, actor=None, request=None, via="") -> None:
    """Save a user edited elsewhere (admin form, sign-up); their keys follow the new state."""
    old = get_user_model().objects.filter(pk=user.pk).first() if user.pk else None
    before = snapshot(old, exclude=USER_AUDIT_EXCLUDE)
    user.save()
    after = snapshot(user, exclude=USER_AUDIT_EXCLUDE)
    if before is None:
        action = "user.create"
    elif before.get("is_active") != after.get("is_active"):
        action = "user.activate" if after.get("is_active") else "user.deactivate"
    else:
        action = "user.update"
    if before != after:
        record(actor, action, user, before=before, after=after, request=request, via=via)
    forget_keys(ApiKey.objects.filter(user=user).values_list("prefix", flat=True))


def delete_users(users, *, actor=None, request=None, via="") -> int:
    users = list(users)
    prefixes = list(ApiKey.objects.filter(user__in=users).values_list("prefix", flat=True))
    count = delete_audited(actor, "user.delete", users, exclude=USER_AUDIT_EXCLUDE, request=request, via=via)
    forget_keys(prefixes)
    return count


# -- Ollama public keys (the Ollama CLI's signatures) and the "manage models" scope --------------


def forget_ollama_keys(blobs) -> None:
    """Drop these public keys from this process's signature cache (other processes: within the TTL)."""
    blobs = list(blobs)

    def forget():
        for blob in blobs:
            public_keys.invalidate(blob)

    forget()
    transaction.on_commit(forget)


def register_ollama_key(user, api_key: ApiKey, text: str, name: str = "", *, request=None) -> OllamaPublicKey:
    """Register the Ollama public key in `text` (a `ssh-ed25519 AAAA…` line) for `user`.

    Requests signed with it act as `api_key`, which must be one of the user's usable keys.
    Raises ValidationError with a message for the user.
    """
    if api_key.user_id != user.pk:
        raise ValidationError("Choose one of your own API keys.")
    if api_key.status != "active":
        raise ValidationError("Choose an active API key.")
    try:
        blob, comment = parse_public_key(text)
    except PublicKeyError as exc:
        raise ValidationError(str(exc)) from None
    if OllamaPublicKey.objects.filter(public_key=blob).exists():
        raise ValidationError("This public key is already registered.")
    try:
        with transaction.atomic():
            key = OllamaPublicKey.objects.create(
                user=user, api_key=api_key, name=(name or comment)[:100], public_key=blob, fingerprint=fingerprint(blob)
            )
    except IntegrityError:
        raise ValidationError("This public key is already registered.") from None
    forget_ollama_keys([blob])  # a cached "not registered" must not outlive it
    record(user, "ollama_key.register", key, after=snapshot(key), request=request)
    return key


def save_ollama_key(key: OllamaPublicKey) -> OllamaPublicKey:
    """Save a public key edited elsewhere (the admin: only its name)."""
    key.save()
    forget_ollama_keys([key.public_key])
    return key


def delete_ollama_keys(keys, *, actor=None, request=None, via="") -> int:
    keys = list(keys)
    count = delete_audited(actor, "ollama_key.delete", keys, request=request, via=via)
    forget_ollama_keys(key.public_key for key in keys)
    return count


def remove_ollama_key(user, pk: int, *, request=None) -> OllamaPublicKey | None:
    """Delete one of the user's Ollama public keys; the deleted row, or None if there is no such key."""
    key = OllamaPublicKey.objects.filter(user=user, pk=pk).first()
    if key is not None:
        delete_ollama_keys([key], actor=user, request=request)
    return key


def set_manage_models(api_key: ApiKey, allowed: bool, granted_by, *, request=None) -> ApiKey:
    """Grant (allowed=True) or revoke a key's "manage models" scope. Staff only."""
    if not (granted_by.is_active and granted_by.is_staff):
        raise PermissionDenied("Only staff may change whether a key may manage models.")
    was = ApiKey.objects.filter(pk=api_key.pk).values_list("can_manage_models", flat=True).first()
    if was != allowed:
        action = "key.manage_models_grant" if allowed else "key.manage_models_revoke"
        before, after = {"can_manage_models": bool(was)}, {"can_manage_models": allowed}
        record(granted_by, action, api_key, before=before, after=after, request=request)
    api_key.can_manage_models = allowed
    api_key.save(update_fields=["can_manage_models"])
    forget_keys([api_key.prefix])
    return api_key


def grant_manage_models(api_key: ApiKey, granted_by, *, request=None) -> ApiKey:
    return set_manage_models(api_key, True, granted_by, request=request)


def revoke_manage_models(api_key: ApiKey, granted_by, *, request=None) -> ApiKey:
    return set_manage_models(api_key, False, granted_by, request=request)
