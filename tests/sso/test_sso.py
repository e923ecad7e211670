"""Single sign-on: claims to accounts (pure), settings, and the sign-in routes when it is off.
The whole flow against a real provider runs in Chromium: tests/browser/test_sso_browser.py."""

import pytest
from django.test import Client

from ollamaweb.sso import claims as c
from ollamaweb.sso.config import config

CONF = c.SsoConfig(
    issuer="https://id.example.org",
    client_id="gw",
    groups_claim="groups",
    staff_groups=frozenset({"admins"}),
    team_map={"ml": "Research", "cv": "Vision"},
)


def test_team_map_parsing():
    assert c.parse_team_map("") == ({}, False)
    assert c.parse_team_map("*") == ({}, True)
    assert c.parse_team_map(" ml = Research lab ,bad, cv=Vision,=x") == ({"ml": "Research lab", "cv": "Vision"}, False)


def test_groups_teams_and_staff_from_claims():
    assert c.groups_of({"groups": ["ml", "admins"]}, "groups") == ["ml", "admins"]
    assert c.groups_of({"groups": "ml, cv admins"}, "groups") == ["ml", "cv", "admins"]
    assert c.groups_of({}, "groups") == [] and c.groups_of({"groups": ["x"]}, "") == []
    assert c.team_names(["cv", "ml", "other"], CONF) == ["Vision", "Research"]
    every = c.SsoConfig(groups_claim="groups", teams_from_groups=True, team_map={"ml": "Research"})
    assert c.team_names(["ml", "Ops"], every) == ["Research", "ml", "Ops"]
    assert c.is_staff(["ml", "admins"], CONF) and not c.is_staff(["ml"], CONF)
    assert CONF.maps_staff and CONF.maps_teams and CONF.enabled
    assert not c.SsoConfig(staff_groups=frozenset({"a"})).maps_staff  # no groups claim: the flag is left alone


def test_username_candidates_are_valid_django_usernames():
    claims = {"sub": "abc", "preferred_username": "Jane Doe!", "email": "jane.doe@example.org"}
    assert list(c.username_candidates(claims, CONF))[:2] == ["JaneDoe", "jane.doe"]
    only_sub = list(c.username_candidates({"sub": "abc"}, CONF))
    assert len(only_sub) == 1 and only_sub[0].startswith("sso-")


def test_audience_and_discovery_url():
    assert c.audience_ok({"aud": "gw"}, "gw") and c.audience_ok({"aud": ["x", "gw"]}, "gw")
    assert not c.audience_ok({"aud": "other"}, "gw") and not c.audience_ok({}, "gw")
    assert CONF.discovery == "https://id.example.org/.well-known/openid-configuration"
    assert c.SsoConfig(discovery_url="https://x/d", client_id="a").discovery == "https://x/d"


def test_config_reads_settings(settings):
    settings.OIDC_ISSUER = "https://id.example.org/"
    settings.OIDC_RP_CLIENT_ID = "gw"
    settings.OIDC_STAFF_GROUPS = "admins, ops"
    settings.OIDC_TEAMS = "*"
    conf = config()
    assert conf.enabled and conf.staff_groups == {"admins", "ops"} and conf.teams_from_groups
    assert conf.discovery == "https://id.example.org/.well-known/openid-configuration"


@pytest.mark.django_db
def test_sso_routes_are_404_and_no_button_when_off(settings):
    settings.OIDC_ISSUER = ""
    client = Client()
    assert client.get("/accounts/sso/login/").status_code == 404
    assert client.get("/accounts/sso/callback/?code=x&state=y").status_code == 404
    html = client.get("/accounts/login/").content.decode()
    assert "sso-button" not in html and 'name="password"' in html


@pytest.mark.django_db
def test_provider_down_sends_back_to_the_sign_in_page(settings):
    settings.OIDC_ISSUER = "http://127.0.0.1:9"  # nothing listens there
    settings.OIDC_RP_CLIENT_ID = "gw"
    from ollamaweb.sso.config import forget_discovery

    forget_discovery()
    response = Client().get("/accounts/sso/login/", follow=True)
    assert response.redirect_chain[-1][0] == "/accounts/login/"
    assert "the provider does not answer" in response.content.decode()
