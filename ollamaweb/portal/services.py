"""Writes the portal's staff pages make to users: create, invite (a set-password link), (de)activate.

Saving a user invalidates the key caches of their keys (keys/signals.py), so a deactivated
user's keys stop working at once in this process, within API_KEY_CACHE_TTL elsewhere.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from ollamaweb.keys.services import forget_keys

from .models import Profile
from .zones import SESSION_KEY, zone_named


def create_user(username: str, *, email: str = "", password: str = "", is_staff: bool = False):
    """A new active user; without a password they sign in through a set-password link (invite_path)."""
    with transaction.atomic():
        user = get_user_model().objects.create_user(username, email=email, password=password or None)
        if is_staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
    return user


def invite_path(user) -> str:
    """The path of a one-time link that lets the user set their password (and so sign in).

    It is Django's password-reset token: valid for PASSWORD_RESET_TIMEOUT and void once the
    password changes or the user signs in.
    """
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    return reverse("portal:set-password", args=[uid, default_token_generator.make_token(user)])


def set_active(user, active: bool) -> bool:
    """Activate or deactivate a user; their keys follow at once. False when nothing changed."""
    if user.is_active == active:
        return False
    user.is_active = active
    user.save(update_fields=["is_active"])
    forget_keys(user.api_keys.values_list("prefix", flat=True))
    return True


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
