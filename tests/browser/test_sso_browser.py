"""Single sign-on end to end in Chromium against a real OpenID Connect provider (node-oidc-provider,
tests/oidc/provider.mjs): sign in at the provider, land in the portal with the teams and the staff
flag that the provider's groups give; local accounts switched off; a provider that refuses us."""

import copy
from urllib.parse import urlparse

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from playwright.sync_api import expect

from ollamaweb.audit.models import AuditEvent
from ollamaweb.sso.config import forget_discovery
from ollamaweb.sso.models import SsoIdentity
from ollamaweb.teams import services as teams
from ollamaweb.teams.models import Membership
from tests.oidc.provider import Provider, install

pytestmark = pytest.mark.browser
User = get_user_model()
CLIENT_ID, CLIENT_SECRET = "ollamaweb-portal", "a-client-secret-for-tests"
ACCOUNTS = {
    "carol": {
        "email": "carol@example.org",
        "email_verified": True,
        "preferred_username": "carol",
        "name": "Carol",
        "groups": ["research", "gpu-admins"],
    },
    "dave": {"email": "dave@example.org", "email_verified": True, "preferred_username": "dave", "groups": ["vision"]},
}


@pytest.fixture(scope="module")
def provider(gateway_server):
    node = install()
    config = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [gateway_server.url + "/accounts/sso/callback/"],
        "accounts": ACCOUNTS,
    }
    running = Provider(node, config)
    yield running
    running.stop()


@pytest.fixture
def sso(settings, provider, gateway):
    forget_discovery()
    provider.update_accounts(copy.deepcopy(ACCOUNTS))
    settings.OIDC_ISSUER = provider.issuer
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_RP_SCOPES = "openid email profile groups"
    settings.OIDC_GROUPS_CLAIM = "groups"
    settings.OIDC_STAFF_GROUPS = "gpu-admins"
    settings.OIDC_TEAMS = "research=Research,vision=Vision"
    settings.OIDC_LABEL = "Example SSO"
    boss = User.objects.create_user("boss", is_staff=True)
    teams.create_team(boss, "Research")
    teams.create_team(boss, "Vision")
    yield provider
    forget_discovery()


@pytest.fixture
def open_page(new_page, gateway, sso):
    """A fresh browser (no provider session); nothing leaves this machine (the provider's page links a web font)."""
    allowed = {urlparse(gateway.url).netloc, urlparse(sso.issuer).netloc}

    def route(route):
        if urlparse(route.request.url).netloc in allowed:
            route.continue_()
        else:
            route.abort()

    def open_one():
        page = new_page()
        page.route("**/*", route)
        return page

    return open_one


def sso_sign_in(page, login):
    page.goto("/")
    page.get_by_role("link", name="Sign in with Example SSO").click()
    page.wait_for_url("**/interaction/**")
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any password")
    page.get_by_role("button", name="Sign-in").click()


def test_sso_sign_in_creates_the_user_with_teams_and_staff(sso, gateway, open_page, screenshot):
    page = open_page()
    page.goto("/")
    expect(page.get_by_role("link", name="Sign in with Example SSO")).to_be_visible()
    expect(page.get_by_label("Password", exact=True)).to_be_visible()  # local accounts still work
    screenshot(page, "20-sso-sign-in")
    sso_sign_in(page, "carol")
    page.wait_for_url(gateway.url + "/")
    expect(page.get_by_role("heading", name="Your usage")).to_be_visible()
    expect(page.locator(".who")).to_have_text("carol")
    expect(page.get_by_role("link", name="Overview")).to_be_visible()  # staff, from the gpu-admins group
    screenshot(page, "21-sso-signed-in")

    carol = User.objects.get(username="carol")
    assert carol.email == "carol@example.org" and carol.is_staff and not carol.is_superuser
    assert not carol.has_usable_password()
    assert SsoIdentity.objects.get(user=carol).issuer == sso.issuer
    membership = Membership.objects.get(user=carol)
    assert (membership.team.name, membership.source, membership.is_default) == ("Research", "sso", True)

    page.get_by_role("link", name="Teams", exact=True).click()
    row = page.locator("tr[data-team=Research]")
    expect(row).to_contain_text("member")
    expect(row).to_contain_text("default")
    assert page.locator("tr[data-team=Vision]").count() == 0
    screenshot(page, "22-sso-teams")

    events = {e.action: e for e in AuditEvent.objects.filter(actor_name__in=["carol", "single sign-on"])}
    assert events["user.create"].source == "sso"
    assert events["user.staff_grant"].after == {"is_staff": True, "groups": ["research", "gpu-admins"]}
    assert events["auth.login"].source == "sso" and events["auth.login"].ip == "127.0.0.1"
    assert AuditEvent.objects.filter(action="team.member_add", source="sso", target_repr="Research").count() == 1

    # The next sign-in finds the same account by its subject; a group taken away takes its effects away.
    page.get_by_role("button", name="Sign out").click()
    sso.update_accounts(
        {**ACCOUNTS, "carol": {**ACCOUNTS["carol"], "email": "carol@new.example.org", "groups": ["vision"]}}
    )
    page = open_page()
    sso_sign_in(page, "carol")
    page.wait_for_url(gateway.url + "/")
    expect(page.locator(".who")).to_have_text("carol")
    expect(page.get_by_role("link", name="Overview")).to_have_count(0)
    carol.refresh_from_db()
    assert not carol.is_staff and carol.email == "carol@new.example.org"
    assert User.objects.filter(username__startswith="carol").count() == 1
    assert list(Membership.objects.filter(user=carol).values_list("team__name", flat=True)) == ["Vision"]
    assert AuditEvent.objects.filter(action="user.staff_revoke", target_repr="carol").count() == 1


def test_only_sso_when_local_accounts_are_off(sso, gateway, open_page, settings):
    settings.OLLAMAWEB_LOCAL_LOGIN = False
    User.objects.create_user("alice", password="pw-alice-123")
    page = open_page()
    page.goto("/accounts/login/")
    expect(page.get_by_role("link", name="Sign in with Example SSO")).to_be_visible()
    expect(page.get_by_label("Password", exact=True)).to_have_count(0)

    response = Client().post("/accounts/login/", {"username": "alice", "password": "pw-alice-123"})
    assert response.status_code == 200 and "_auth_user_id" not in Client().session
    assert AuditEvent.objects.filter(action="auth.login_failed", target_repr="alice").count() == 1

    sso_sign_in(page, "dave")
    page.wait_for_url(gateway.url + "/")
    expect(page.locator(".who")).to_have_text("dave")
    expect(page.get_by_role("link", name="Overview")).to_have_count(0)
    dave = User.objects.get(username="dave")
    assert not dave.is_staff and list(dave.teams.values_list("name", flat=True)) == ["Vision"]


def test_a_refused_sign_in_is_shown_and_audited(sso, gateway, open_page, settings):
    settings.OIDC_RP_CLIENT_SECRET = "not-the-secret"  # the provider refuses the code exchange
    page = open_page()
    sso_sign_in(page, "carol")
    page.wait_for_url("**/accounts/login/**")
    expect(page.get_by_text("Sign-in with Example SSO failed")).to_be_visible()
    assert not User.objects.filter(username="carol").exists()
    event = AuditEvent.objects.get(action="auth.login_failed")
    assert event.source == "sso" and event.ip == "127.0.0.1"
    assert CLIENT_SECRET not in str(event.after) and "not-the-secret" not in str(event.after)
