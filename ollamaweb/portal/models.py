import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone


def hash_invite(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class InviteQuerySet(models.QuerySet):
    def open(self):
        now = timezone.now()
        return self.filter(used_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class Invite(models.Model):
    """A single-use sign-up link made by a staff member. Only a hash of its token is stored."""

    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    note = models.CharField(max_length=200, blank=True, help_text="Who the invite is for (shown to staff only).")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="invites_made", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    used_by = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="invite",
        editable=False,
    )
    used_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = InviteQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"invite {self.pk}{f' for {self.note}' if self.note else ''}"

    @classmethod
    def issue(cls, created_by, note="", expires_at=None):
        """Create an invite and return (invite, token); the token is shown once and never again."""
        token = secrets.token_urlsafe(24)
        invite = cls.objects.create(
            token_hash=hash_invite(token), note=note, created_by=created_by, expires_at=expires_at
        )
        return invite, token

    @classmethod
    def find_open(cls, token: str):
        if not token or len(token) > 100:
            return None
        return cls.objects.open().filter(token_hash=hash_invite(token)).first()

    @property
    def status(self):
        if self.used_at:
            return "used"
        if self.expires_at and self.expires_at <= timezone.now():
            return "expired"
        return "open"


class Profile(models.Model):
    """A user's portal preferences."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="portal_profile")
    time_zone = models.CharField(
        max_length=64, blank=True, help_text="IANA name (Europe/Paris); empty = the browser's zone."
    )

    def __str__(self):
        return f"profile of {self.user}"
