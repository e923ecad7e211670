"""Single sign-on pages (ollamaweb.sso does the rest): /accounts/sso/login/ sends the browser to the
provider, /accounts/sso/callback/ is where it comes back."""

from django.contrib import messages
from django.core.exceptions import ImproperlyConfigured
from django.http import Http404
from django.shortcuts import redirect
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView
from requests import RequestException

from ollamaweb.audit.services import record
from ollamaweb.sso.config import config, discovered

from ..security import page


class SsoStart(OIDCAuthenticationRequestView):
    def __init__(self, *args, **kwargs):
        super(OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)  # endpoints: at get()

    def get(self, request):
        conf = config()
        if not conf.enabled:
            raise Http404("Single sign-on is not configured.")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = discovered(conf)["authorization_endpoint"]
        except (RequestException, ImproperlyConfigured, ValueError):
            messages.error(request, f"Sign-in with {conf.label} is unavailable: the provider does not answer.")
            return redirect("portal:login")
        self.OIDC_RP_CLIENT_ID = conf.client_id
        return super().get(request)


class SsoCallback(OIDCAuthenticationCallbackView):
    def get(self, request):
        if not config().enabled:
            raise Http404("Single sign-on is not configured.")
        return super().get(request)

    def login_failure(self):
        user = getattr(self, "user", None)
        if user is not None and not user.is_active:  # Django records the other failures (audit signals)
            record("", "auth.login_failed", user, after={"username": user.get_username(), "reason": "inactive"},
                   request=self.request, via="sso")  # fmt: skip
        messages.error(self.request, f"Sign-in with {config().label} failed. Please try again.")
        return super().login_failure()


start = page(SsoStart.as_view(), public=True, no_store=True)
callback = page(SsoCallback.as_view(), public=True, no_store=True)
