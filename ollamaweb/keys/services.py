"""Every write to API keys and to who may use them (users' active flag) goes through here.

Each function also forgets the affected keys in every cache (this process's, and the shared one
in Redis), so a change takes effect everywhere within OLLAMAWEB_KEY_CACHE_TTL (1 s by default),
and writes its audit rows: `actor` (who acts), `request` (where from) and `via` ("command" for the
command line) are passed on to ollamaweb.audit.services.record.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from ollamaweb.audit.services import record, snapshot

from . import hashing
from .cache import key_cache, shared_key
from .models import ApiKey


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
    for key in keys:
        target = ("keys.apikey", str(key.pk), str(key))
        record(actor, "key.delete", target, before=snapshot(key), request=request, via=via)
    ApiKey.objects.filter(pk__in=[key.pk for key in keys]).delete()
    forget_keys(key.prefix for key in keys)
    return len(keys)


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
    for user in users:
        before = snapshot(user, exclude=USER_AUDIT_EXCLUDE)
        record(actor, "user.delete", ("auth.user", str(user.pk), str(user)), before=before, request=request, via=via)
    prefixes = list(ApiKey.objects.filter(user__in=users).values_list("prefix", flat=True))
    get_user_model().objects.filter(pk__in=[user.pk for user in users]).delete()
    forget_keys(prefixes)
    return len(users)
