from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver

from .playground_keys import revoke_playground_keys


@receiver(user_logged_out)
def revoke_playground_key_on_sign_out(sender, request, user, **kwargs):
    """The Playground key lives as long as the browser session that got it."""
    if user is not None and user.is_authenticated:
        revoke_playground_keys(user)
