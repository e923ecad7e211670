"""Authentication backends: OpenID Connect sign-in with just-in-time users, and local passwords
(which OLLAMAWEB_LOCAL_LOGIN=0 switches off)."""

import logging

import requests
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from django.db import IntegrityError, transaction
from django.utils import timezone
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from ollamaweb.audit.services import record
from ollamaweb.teams import services as teams

from . import claims as c
from .config import config, discovered, local_login_enabled
from .models import SsoIdentity

log = logging.getLogger(__name__)


class LocalBackend(ModelBackend):
    """Username and password, unless local accounts are switched off (OLLAMAWEB_LOCAL_LOGIN=0)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if not local_login_enabled():
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


class SsoBackend(OIDCAuthenticationBackend):
    """The OpenID Connect code flow (mozilla-django-oidc), configured from discovery at each sign-in.

    A user is found by their provider subject (iss + sub); on first sign-in, by a verified e-mail
    address (OLLAMAWEB_OIDC_LINK_BY_EMAIL), else created (OLLAMAWEB_OIDC_CREATE_USERS). Each sign-in
    updates the e-mail, the staff flag (OLLAMAWEB_OIDC_STAFF_GROUPS) and the memberships that come
    from groups (OLLAMAWEB_OIDC_TEAMS).
    """

    def __init__(self, *args, **kwargs):
        # The parent reads every endpoint from settings here; ours come from discovery, at sign-in.
        self.UserModel = get_user_model()

    def _configure(self):
        self.conf = config()
        document = discovered(self.conf)
        self.issuer = document["issuer"]
        self.OIDC_OP_TOKEN_ENDPOINT = document["token_endpoint"]
        self.OIDC_OP_USER_ENDPOINT = document.get("userinfo_endpoint", "")
        self.OIDC_OP_JWKS_ENDPOINT = document["jwks_uri"]
        self.OIDC_RP_CLIENT_ID = self.conf.client_id
        self.OIDC_RP_CLIENT_SECRET = self.conf.client_secret
        self.OIDC_RP_SIGN_ALGO = self.conf.sign_algo
        self.OIDC_RP_IDP_SIGN_KEY = None

    def authenticate(self, request, **kwargs):
        if request is None or not request.GET.get("code") or "nonce" not in kwargs or not config().enabled:
            return None
        try:
            self._configure()
            return super().authenticate(request, **kwargs)
        except (requests.RequestException, SuspiciousOperation, ImproperlyConfigured, ValueError) as exc:
            log.warning("single sign-on failed: %s", exc)
            return None

    def verify_token(self, token, **kwargs):
        payload = super().verify_token(token, **kwargs)
        if "nonce" in kwargs:  # the ID token: it must be for us, from our provider
            if payload.get("iss") != self.issuer:
                raise SuspiciousOperation("The ID token comes from another issuer.")
            if not c.audience_ok(payload, self.conf.client_id):
                raise SuspiciousOperation("The ID token is for another client.")
        return payload

    def get_userinfo(self, access_token, id_token, payload):
        info = super().get_userinfo(access_token, id_token, payload) if self.OIDC_OP_USER_ENDPOINT else {}
        if info.get("sub") and info["sub"] != payload.get("sub"):
            raise SuspiciousOperation("The user info is about another subject.")
        return {**payload, **info}

    def get_or_create_user(self, access_token, id_token, payload):
        claims = self.get_userinfo(access_token, id_token, payload)
        subject = str(claims.get("sub") or "")
        if not subject:
            raise SuspiciousOperation("No subject in the claims.")
        request = getattr(self, "request", None)
        with transaction.atomic():
            link = SsoIdentity.objects.select_related("user").filter(issuer=self.issuer, subject=subject).first()
            user = link.user if link else self._existing_user(claims)
            if user is None:
                if not self.conf.create_users:
                    log.info("single sign-on: no account for %s and OLLAMAWEB_OIDC_CREATE_USERS is off", subject)
                    return None
                user = self._create(claims, request)
            if link is None:
                link = SsoIdentity.objects.create(user=user, issuer=self.issuer, subject=subject)
            SsoIdentity.objects.filter(pk=link.pk).update(last_login_at=timezone.now())
            return self.update_user(user, claims)

    def _existing_user(self, claims):
        email = c.email_of(claims, self.conf)
        if not (self.conf.link_by_email and email and claims.get("email_verified") is True):
            return None
        users = list(self.UserModel.objects.filter(email__iexact=email)[:2])
        return users[0] if len(users) == 1 else None

    def _create(self, claims, request):
        for name in c.username_candidates(claims, self.conf):
            for suffix in ("", *(f"-{n}" for n in range(2, 20))):
                candidate = (name[: c.MAX_USERNAME - len(suffix)] + suffix) if suffix else name
                if self.UserModel.objects.filter(username__iexact=candidate).exists():
                    continue
                try:
                    with transaction.atomic():
                        user = self.UserModel.objects.create_user(candidate, email=c.email_of(claims, self.conf))
                except IntegrityError:
                    continue
                record(
                    "single sign-on",
                    "user.create",
                    user,
                    after={"username": user.username, "email": user.email, "issuer": self.issuer},
                    request=request,
                    via="sso",
                )
                return user
        raise SuspiciousOperation("Could not choose a username.")

    def update_user(self, user, claims):
        request = getattr(self, "request", None)
        groups = c.groups_of(claims, self.conf.groups_claim)
        email = c.email_of(claims, self.conf)
        changed = []
        if email and email != user.email:
            user.email = email
            changed.append("email")
        if self.conf.maps_staff and not user.is_superuser:
            staff = c.is_staff(groups, self.conf)
            if staff != user.is_staff:
                user.is_staff = staff
                changed.append("is_staff")
                record(
                    "single sign-on",
                    "user.staff_grant" if staff else "user.staff_revoke",
                    user,
                    before={"is_staff": not staff},
                    after={"is_staff": staff, "groups": groups},
                    request=request,
                    via="sso",
                )
        if changed:
            user.save(update_fields=changed)
        if self.conf.maps_teams:
            teams.sync_sso_teams(user, c.team_names(groups, self.conf), request=request)
        return user
