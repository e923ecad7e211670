"""The single sign-on settings, read from Django settings at each use (tests override them)."""

import threading
import time

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .claims import SsoConfig, parse_team_map

DISCOVERY_TTL = 3600.0
_discovered: dict[str, tuple[float, dict]] = {}
_lock = threading.Lock()


def config() -> SsoConfig:
    team_map, from_groups = parse_team_map(getattr(settings, "OIDC_TEAMS", ""))
    staff = getattr(settings, "OIDC_STAFF_GROUPS", "")
    if isinstance(staff, str):
        staff = [g.strip() for g in staff.split(",")]
    return SsoConfig(
        issuer=getattr(settings, "OIDC_ISSUER", ""),
        discovery_url=getattr(settings, "OIDC_DISCOVERY_URL", ""),
        client_id=getattr(settings, "OIDC_RP_CLIENT_ID", ""),
        client_secret=getattr(settings, "OIDC_RP_CLIENT_SECRET", ""),
        scopes=getattr(settings, "OIDC_RP_SCOPES", "openid email profile"),
        sign_algo=getattr(settings, "OIDC_RP_SIGN_ALGO", "RS256"),
        username_claim=getattr(settings, "OIDC_USERNAME_CLAIM", "preferred_username"),
        email_claim=getattr(settings, "OIDC_EMAIL_CLAIM", "email"),
        groups_claim=getattr(settings, "OIDC_GROUPS_CLAIM", ""),
        staff_groups=frozenset(g for g in staff if g),
        team_map=team_map,
        teams_from_groups=from_groups,
        create_users=getattr(settings, "OIDC_CREATE_USER", True),
        link_by_email=getattr(settings, "OIDC_LINK_BY_EMAIL", True),
        label=getattr(settings, "OIDC_LABEL", "") or "single sign-on",
    )


def local_login_enabled() -> bool:
    return bool(getattr(settings, "OLLAMAWEB_LOCAL_LOGIN", True))


def discovered(conf: SsoConfig) -> dict:
    """The provider's discovery document (cached for an hour per process)."""
    if not conf.enabled:
        raise ImproperlyConfigured("Single sign-on is not configured (OLLAMAWEB_OIDC_ISSUER, _CLIENT_ID).")
    url = conf.discovery
    with _lock:
        entry = _discovered.get(url)
        if entry and entry[0] > time.monotonic():
            return entry[1]
    response = requests.get(url, timeout=getattr(settings, "OIDC_TIMEOUT", 10))
    response.raise_for_status()
    document = response.json()
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri", "issuer"):
        if not document.get(name):
            raise ImproperlyConfigured(f"The provider's discovery document at {url} has no {name}.")
    with _lock:
        _discovered[url] = (time.monotonic() + DISCOVERY_TTL, document)
    return document


def forget_discovery():
    with _lock:
        _discovered.clear()
