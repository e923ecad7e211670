from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver

from .models import Profile
from .playground_keys import revoke_playground_keys
from .zones import SESSION_KEY


@receiver(user_logged_out)
def revoke_playground_key_on_sign_out(sender, request, user, **kwargs):
    """The Playground key lives as long as the browser session that got it."""
    if user is not None and user.is_authenticated:
        revoke_playground_keys(user)


@receiver(user_logged_in)
def remember_time_zone(sender, request, user, **kwargs):
    """The profile's zone goes into the session, so pages need no query to find it."""
    if request is None or not hasattr(request, "session"):
        return
    zone = Profile.objects.filter(user=user).values_list("time_zone", flat=True).first()
    if zone:
        request.session[SESSION_KEY] = zone
