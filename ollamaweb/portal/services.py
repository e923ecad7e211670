"""Writes of the portal's own: creating a user, their invite (set-password) link, their time zone.

(De)activating users and everything about keys and quotas goes through keys/services.py and
quotas/services.py, which forget the affected caches.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from ollamaweb.keys import services as key_services

from .models import Profile
from .zones import SESSION_KEY, zone_named


def create_user(username: str, *, email: str = "", password: str = "", is_staff: bool = False):
    """A new active user; without a password they sign in through a set-password link (invite_path)."""
    user = get_user_model()(username=username, email=email, is_staff=is_staff)
    user.set_password(password or None)  # None: an unusable password until they choose one
    with transaction.atomic():
        key_services.save_user(user)
    return user


def invite_path(user) -> str:
    """The path of a one-time link that lets the user set their password (and so sign in).

    It is Django's password-reset token: valid for PASSWORD_RESET_TIMEOUT and void once the
    password changes or the user signs in.
    """
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    return reverse("portal:set-password", args=[uid, default_token_generator.make_token(user)])


def set_time_zone(user, name: str, session=None) -> str:
    """Save the user's zone ("" = the browser's); also into the current session when given."""
    name = name if zone_named(name) else ""
    Profile.objects.update_or_create(user=user, defaults={"time_zone": name})
    if session is not None:
        if name:
            session[SESSION_KEY] = name
        else:
            session.pop(SESSION_KEY, None)
    return name
