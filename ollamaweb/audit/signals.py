"""Sign-ins and failed sign-ins (portal, admin and single sign-on) from Django's auth signals."""

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from .services import record


def _via(request, user=None):
    backend = (getattr(user, "backend", "") or "").rsplit(".", 1)[-1]
    return "sso" if backend in ("SsoBackend", "OIDCAuthenticationBackend") else ""


@receiver(user_logged_in)
def signed_in(sender, request, user, **kwargs):
    record(
        user,
        "auth.login",
        user,
        request=request,
        via=_via(request, user),
        after={"backend": getattr(user, "backend", "")},
    )


@receiver(user_logged_out)
def signed_out(sender, request, user, **kwargs):
    if user is not None:
        record(user, "auth.logout", user, request=request)


@receiver(user_login_failed)
def sign_in_failed(sender, credentials, request=None, **kwargs):
    # Django has already replaced the password with asterisks; keep only the name tried.
    username = str(credentials.get(get_user_model().USERNAME_FIELD) or credentials.get("username") or "")
    if not username and request is not None and request.GET.get("code"):
        username = "(single sign-on)"
    target = (
        get_user_model().objects.filter(**{get_user_model().USERNAME_FIELD: username}).first() if username else None
    )
    record(
        "",
        "auth.login_failed",
        target or ("auth.user", "", username),
        request=request,
        via="sso" if username == "(single sign-on)" else "",
        after={"username": username},
    )
