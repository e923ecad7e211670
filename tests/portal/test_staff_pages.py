"""Staff: the overview's labels and canonical model names, openable errors, and user management."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, RequestFactory

from ollamaweb.keys.cache import key_cache
from ollamaweb.keys.services import issue_key
from ollamaweb.portal.zones import quota_now
from ollamaweb.quotas.models import QuotaPolicy, UsageCounter
from tests.portal.helpers import client_for, log, rollup, text

User = get_user_model()
NEW_PAGES = ["/staff/users/", "/staff/users/new/", "/staff/requests/1/"]


@pytest.mark.parametrize("url", NEW_PAGES)
def test_new_staff_pages_refuse_others(alice, url):
    assert Client().get(url).status_code == 302
    assert client_for(alice).get(url).status_code == 403


@pytest.mark.parametrize(
    "url",
    ["/staff/users/1/active/", "/staff/users/1/quota/", "/staff/users/1/invite/", "/staff/users/1/keys/1/revoke/"],
)
def test_staff_writes_refuse_others(alice, url):
    assert client_for(alice).post(url, {"active": "0"}).status_code == 403
    alice.refresh_from_db()
    assert alice.is_active


def test_overview_labels_its_numbers(staff, alice, backend):
    key, _ = issue_key(alice, "laptop")
    log(alice, key, minutes_ago=1)
    log(None, None, minutes_ago=2, status=401, error="Incorrect API key provided.", requested_model="")
    rollup(alice, key_prefix=key.prefix)
    html = text(client_for(staff).get("/staff/"))
    day = re.sub(r"<[^>]+>", "", re.search(r'id="card-day">(.*?)</div>', html, re.S).group(1))
    assert "2 requests, every outcome, of which 1 without a valid key (401)" in day
    today = re.sub(r"<[^>]+>", "", re.search(r'id="card-today">(.*?)</div>', html, re.S).group(1))
    assert "since 00:00 UTC" in today and "1 request with a valid key" in today


def test_top_models_use_one_name_per_model(staff, alice, backend):
    rollup(alice, "mistral", prompt_tokens=100, completion_tokens=0)
    rollup(alice, "mistral:latest", key_prefix="sk-other", prompt_tokens=20, completion_tokens=3)
    html = text(client_for(staff).get("/staff/"))
    top = re.search(r'id="top-models-h".*?</table>', html, re.S).group(0)
    visible = re.sub(r"<(?!/?code)[^>]+>", "", top)  # the text, without the drill-down links' addresses
    assert visible.count("mistral") == 1 and "<code>mistral:latest</code>" in visible and "123" in visible


def test_recent_errors_open_and_explain_a_missing_user(staff, alice, backend):
    refused = log(None, None, status=401, error="Incorrect API key provided: sk-abc…", requested_model="")
    failed = log(alice, None, status=502, error="Ollama backend error (500): " + "x" * 400)
    html = text(client_for(staff).get("/staff/"))
    assert f'href="/staff/requests/{refused.pk}/"' in html and f'href="/staff/requests/{failed.pk}/"' in html
    assert "(no valid key)" in html
    detail = text(client_for(staff).get(f"/staff/requests/{failed.pk}/"))
    assert "x" * 400 in detail and f'href="/staff/users/{alice.pk}/"' in detail  # the full error
    detail = text(client_for(staff).get(f"/staff/requests/{refused.pk}/"))
    assert "the request had no valid API key" in detail
    assert client_for(staff).get("/staff/requests/999999/").status_code == 404


# --- User management --------------------------------------------------------------------------


def test_staff_create_a_user_with_a_password(staff):
    client = client_for(staff)
    response = client.post(
        "/staff/users/new/",
        {"username": "carol", "email": "carol@example.com", "sign_in": "password", "password": "a-long-pw-4567"},
    )
    carol = User.objects.get(username="carol")
    assert response.status_code == 302 and response.url == f"/staff/users/{carol.pk}/"
    assert carol.is_active and not carol.is_staff and carol.check_password("a-long-pw-4567")
    assert Client().login(
        request=RequestFactory().post("/accounts/login/"), username="carol", password="a-long-pw-4567"
    )
    # The username is unique; a weak password is refused.
    again = client.post("/staff/users/new/", {"username": "carol", "sign_in": "password", "password": "a-long-pw-4567"})
    assert again.status_code == 200 and "already exists" in text(again)
    weak = client.post("/staff/users/new/", {"username": "dave", "sign_in": "password", "password": "123"})
    assert "too short" in text(weak) and not User.objects.filter(username="dave").exists()


def test_staff_invite_a_user_with_a_one_time_link(staff):
    client = client_for(staff)
    response = client.post("/staff/users/new/", {"username": "erin", "sign_in": "invite"}, follow=True)
    erin = User.objects.get(username="erin")
    assert not erin.has_usable_password()
    [link] = re.findall(r'id="invite-link" class="secret mono" type="text" value="([^"]+)"', text(response))
    assert link.startswith("http://testserver/accounts/set-password/")
    assert link not in text(client.get(f"/staff/users/{erin.pk}/"))  # shown once

    newcomer = Client()
    form = newcomer.get(link.removeprefix("http://testserver"), follow=True)
    assert "Choose a password" in text(form)
    done = newcomer.post(
        form.redirect_chain[-1][0], {"new_password1": "erins-pw-98765", "new_password2": "erins-pw-98765"}
    )
    assert done.status_code == 302 and done.url == "/"
    assert newcomer.get("/").status_code == 200  # signed in
    erin.refresh_from_db()
    assert erin.check_password("erins-pw-98765")
    assert "no longer works" in text(Client().get(link.removeprefix("http://testserver"), follow=True))  # once


def test_deactivating_a_user_stops_their_keys_at_once(staff, alice):
    key, _ = issue_key(alice, "laptop")
    key_cache._entries[key.prefix] = (float("inf"), object())
    client = client_for(staff)
    response = client.post(f"/staff/users/{alice.pk}/active/", {"active": "0"}, follow=True)
    assert "Deactivated alice" in text(response) and 'id="account-status">inactive' in text(response)
    alice.refresh_from_db()
    assert not alice.is_active and key.prefix not in key_cache._entries
    client.post(f"/staff/users/{alice.pk}/active/", {"active": "1"})
    alice.refresh_from_db()
    assert alice.is_active
    # Nobody deactivates themselves.
    assert "cannot deactivate yourself" in text(
        client.post(f"/staff/users/{staff.pk}/active/", {"active": "0"}, follow=True)
    )
    staff.refresh_from_db()
    assert staff.is_active


def test_set_a_users_quota_with_usage_beside_each_limit(staff, alice):
    QuotaPolicy.objects.create(tokens_per_day=1000, requests_per_minute=60)  # the default
    UsageCounter.objects.create(key=f"t:u{alice.pk}:d:{quota_now():%Y-%m-%d}", used=250)
    UsageCounter.objects.create(key=f"t:u{alice.pk}:m:{quota_now():%Y-%m}", used=12_000)
    client = client_for(staff)
    html = text(client.get(f"/staff/users/{alice.pk}/"))
    assert "Used 250 of 1,000 (25%)" in html and "default: 1,000" in html
    response = client.post(
        f"/staff/users/{alice.pk}/quota/",
        {"tokens_per_day": "", "tokens_per_month": "50000", "requests_per_minute": "", "max_concurrent": "2"},
        follow=True,
    )
    assert "Saved the limits of alice" in text(response)
    policy = QuotaPolicy.objects.get(user=alice)
    assert (policy.tokens_per_day, policy.tokens_per_month, policy.max_concurrent) == (None, 50_000, 2)
    assert "Used 12,000 of 50,000 (24%)" in text(response)
    bad = client.post(f"/staff/users/{alice.pk}/quota/", {"tokens_per_day": "-5"})
    assert bad.status_code == 400 and "greater than or equal to 0" in text(bad)
    client.post(f"/staff/users/{alice.pk}/quota/", {})  # every field empty: the user's policy goes
    assert not QuotaPolicy.objects.filter(user=alice).exists()


def test_user_page_lists_keys_and_recent_requests_and_revokes(staff, alice, bob):
    key, _ = issue_key(alice, "laptop", allowed_models=["gpt-4o"])
    bobs, _ = issue_key(bob, "bobs key")
    rollup(alice, key_prefix=key.prefix, prompt_tokens=400, completion_tokens=0)
    log(alice, key, requested_model="alices-model", status=404, error="model not found")
    client = client_for(staff)
    html = text(client.get(f"/staff/users/{alice.pk}/"))
    assert "laptop" in html and "gpt-4o" in html and "400 tokens" in html
    assert "alices-model" in html and "model not found" in html and "bobs key" not in html
    assert client.post(f"/staff/users/{alice.pk}/keys/{bobs.pk}/revoke/").status_code == 404  # not hers
    client.post(f"/staff/users/{alice.pk}/keys/{key.pk}/revoke/")
    key.refresh_from_db()
    bobs.refresh_from_db()
    assert key.revoked and not bobs.revoked


def test_user_list_searches_and_shows_usage(staff, alice, bob):
    issue_key(alice, "k1")
    rollup(alice, prompt_tokens=5000, completion_tokens=0)
    client = client_for(staff)
    html = text(client.get("/staff/users/?q=ali"))
    assert ">alice<" in html and ">bob<" not in html and "5,000" in html
    bob.is_active = False
    bob.save()
    assert ">bob<" in text(client.get("/staff/users/?status=inactive"))
    assert ">bob<" not in text(client.get("/staff/users/?status=active"))


def test_staff_set_a_keys_own_limits(staff, alice, bob):
    key, _ = issue_key(alice, "ci")
    bobs, _ = issue_key(bob, "bobs key")
    client = client_for(staff)
    prefix = f"k{key.pk}-"
    response = client.post(
        f"/staff/users/{alice.pk}/keys/{key.pk}/quota/", {prefix + "tokens_per_day": "5000"}, follow=True
    )
    assert "Saved the limits of key “ci”" in text(response)
    assert QuotaPolicy.objects.get(api_key=key).tokens_per_day == 5000
    assert "0 of 5,000 tokens today" in text(response)
    assert client.post(f"/staff/users/{alice.pk}/keys/{bobs.pk}/quota/", {}).status_code == 404
    bad = client.post(f"/staff/users/{alice.pk}/keys/{key.pk}/quota/", {prefix + "tokens_per_day": "-1"}, follow=True)
    assert "not saved" in text(bad) and QuotaPolicy.objects.get(api_key=key).tokens_per_day == 5000
    client.post(f"/staff/users/{alice.pk}/keys/{key.pk}/quota/", {})
    assert not QuotaPolicy.objects.filter(api_key=key).exists()
    assert client_for(alice).post(f"/staff/users/{alice.pk}/keys/{key.pk}/quota/", {}).status_code == 403
