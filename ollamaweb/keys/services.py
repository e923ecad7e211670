"""Writes to the keys app: Ollama public keys, and the model-management scope of API keys."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from .models import ApiKey, OllamaPublicKey
from .signatures import PublicKeyError, fingerprint, parse_public_key


def register_ollama_key(user, api_key: ApiKey, text: str, name: str = "") -> OllamaPublicKey:
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
            return OllamaPublicKey.objects.create(
                user=user,
                api_key=api_key,
                name=(name or comment)[:100],
                public_key=blob,
                fingerprint=fingerprint(blob),
            )
    except IntegrityError:
        raise ValidationError("This public key is already registered.") from None


def remove_ollama_key(user, pk: int) -> OllamaPublicKey | None:
    """Delete one of the user's Ollama public keys; the deleted row, or None if there is no such key."""
    key = OllamaPublicKey.objects.filter(user=user, pk=pk).first()
    if key is not None:
        key.delete()
    return key


def set_manage_models(api_key: ApiKey, allowed: bool, granted_by) -> ApiKey:
    """Grant (allowed=True) or revoke the "manage models" scope of a key. Staff only."""
    if not (granted_by.is_active and granted_by.is_staff):
        raise PermissionDenied("Only staff may change whether a key may manage models.")
    if api_key.can_manage_models != allowed:
        api_key.can_manage_models = allowed
        api_key.save(update_fields=["can_manage_models"])
    return api_key


def grant_manage_models(api_key: ApiKey, granted_by) -> ApiKey:
    return set_manage_models(api_key, True, granted_by)


def revoke_manage_models(api_key: ApiKey, granted_by) -> ApiKey:
    return set_manage_models(api_key, False, granted_by)
