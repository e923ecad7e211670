"""Sign in, sign out, password change, and (when enabled) self-registration."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils import timezone
from django.views.decorators.debug import sensitive_post_parameters

from ollamaweb.sso.config import config as sso_config
from ollamaweb.sso.config import local_login_enabled

from ..forms import RegistrationForm
from ..models import Invite
from ..security import page

MODES = ("off", "invite", "approval")


def registration_mode() -> str:
    mode = getattr(settings, "OLLAMAWEB_SELF_REGISTRATION", "off")
    return mode if mode in MODES else "off"


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        mode = registration_mode()
        return {
            **super().get_context_data(**kwargs),
            "registration_open": mode == "approval",
            "registration_mode": mode,
            "sso": sso_config(),
            "local_login": local_login_enabled(),
        }


login_view = page(LoginView.as_view(), public=True)
logout_view = page(auth_views.LogoutView.as_view(next_page="portal:login"), public=True)
password_change = page(
    auth_views.PasswordChangeView.as_view(
        template_name="registration/change_password.html", success_url=reverse_lazy("portal:password-change-done")
    )
)
password_change_done = page(
    auth_views.PasswordChangeDoneView.as_view(template_name="registration/change_password_done.html")
)


@page(public=True, no_store=True)
@sensitive_post_parameters("password1", "password2")
def register(request, token=""):
    """Sign-up: with an invite link (active at once) or, in "approval" mode, inactive until approved."""
    mode = registration_mode()
    if mode == "off" or not local_login_enabled():  # sign-up makes a password account
        raise Http404("Registration is closed.")
    if request.user.is_authenticated:
        return redirect("portal:dashboard")
    invite = Invite.find_open(token) if token else None
    if token and invite is None:
        return render(request, "registration/register_closed.html", {"reason": "invalid"}, status=404)
    if mode == "invite" and invite is None:
        return render(request, "registration/register_closed.html", {"reason": "invite-only"}, status=403)
    form = RegistrationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            if invite is not None:
                # Claim the invite first: of two concurrent sign-ups with one link, one wins.
                claimed = Invite.objects.open().filter(pk=invite.pk).update(used_at=timezone.now())
                if not claimed:
                    return render(request, "registration/register_closed.html", {"reason": "invalid"}, status=404)
            user = form.save(commit=False)
            user.is_active = invite is not None
            user.save()
            if invite is not None:
                Invite.objects.filter(pk=invite.pk).update(used_by=user)
        if user.is_active:
            login(request, user, backend="ollamaweb.sso.backend.LocalBackend")
            messages.success(request, f"Welcome, {user.get_username()}! Create an API key to get started.")
            return redirect("portal:dashboard")
        return render(request, "registration/register_done.html", {"username": user.get_username()})
    return render(request, "registration/register.html", {"form": form, "invite": invite, "mode": mode})
