from django.conf import settings
from django.db import models
from django.utils import timezone

from . import hashing


class ApiKeyQuerySet(models.QuerySet):
    def usable(self):
        now = timezone.now()
        return self.filter(revoked=False).filter(models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now))


class ApiKey(models.Model):
    """An API key of a user. The secret itself is never stored: see hashing.py; writes go through services.py."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=hashing.PREFIX_LENGTH, unique=True, editable=False)
    hashed_key = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    allowed_models = models.JSONField(
        default=list, blank=True, help_text="Model or alias names this key may use; empty means all."
    )
    revoked = models.BooleanField(default=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    can_manage_models = models.BooleanField(
        "may manage models",
        default=False,
        help_text="Allows Ollama's model management API (pull, push, create, copy, delete) with this key. "
        "Granted by staff.",
    )

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self):
        return f"{self.prefix}… ({self.name or 'unnamed'})"

    @property
    def is_expired(self):
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def status(self):
        if self.revoked:
            return "revoked"
        return "expired" if self.is_expired else "active"


class OllamaPublicKey(models.Model):
    """An Ollama client's ed25519 public key (`~/.ollama/id_ed25519.pub`), registered by its owner.

    Requests signed with the matching private key (the Ollama CLI with OLLAMA_AUTH=1, see
    signatures.py) are served as `api_key`: its allow-list, scope, quotas and log apply.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ollama_public_keys")
    api_key = models.ForeignKey(
        ApiKey,
        on_delete=models.CASCADE,
        related_name="ollama_public_keys",
        help_text="Signed requests act as this API key (its allowed models, scope and quotas).",
    )
    name = models.CharField(max_length=100, blank=True)
    public_key = models.CharField(
        max_length=200, unique=True, help_text="The base64 part of the `ssh-ed25519 AAAA…` line."
    )
    fingerprint = models.CharField(max_length=60, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "Ollama public key"

    def __str__(self):
        return f"{self.fingerprint} ({self.name or 'unnamed'})"

    @property
    def authorized_key_line(self) -> str:
        return f"ssh-ed25519 {self.public_key}"
