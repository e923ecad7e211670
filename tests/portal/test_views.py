"""The web portal's pages and rules, with Django's test client: every page, every permission.

Users only ever see their own keys, usage and requests; staff pages need is_staff; every form
needs its CSRF token; secrets are shown once and never stored.
"""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from ollamaweb.catalog.models import ModelAlias
from ollamaweb.keys import hashing
from ollamaweb.keys.models import ApiKey
from ollamaweb.keys.services import issue_key
from ollamaweb.portal.models import Invite
from ollamaweb.portal.playground_keys import PLAYGROUND_KEY_NAME
from ollamaweb.portal.security import CONTENT_SECURITY_POLICY
from ollamaweb.quotas.models import QuotaPolicy, UsageCounter
from ollamaweb.usage.models import RequestLog
from tests.portal.helpers import client_for, log, rollup

User = get_user_model()
DOWN = "127.0.0.1:9"  # nothing listens on the discard port: connection refused at once

USER_PAGES = [
    "/",
    "/requests/",
    "/usage.csv",
    "/keys/",
    "/models/",
    "/playground/",
    "/quickstart/",
    "/accounts/password/",
]
STAFF_PAGES = ["/staff/", "/staff/feed/", "/staff/invites/"]


@pytest.fixture
def backend_down(settings):
    settings.OLLAMA_HOST = DOWN


def text(response):
    return response.content.decode()


# --- Access rules ---------------------------------------------------------------------------


@pytest.mark.parametrize("url", USER_PAGES + STAFF_PAGES)
def test_every_page_needs_sign_in(db, url):
    response = Client().get(url)
    assert response.status_code == 302
    assert response.url == f"/accounts/login/?next={url}"


@pytest.mark.parametrize("url", ["/playground/key/", "/keys/1/revoke/", "/staff/invites/1/delete/", "/keys/"])
def test_posts_need_sign_in(db, url):
    response = Client().post(url)
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


@pytest.mark.parametrize("url", STAFF_PAGES)
def test_staff_pages_refuse_other_users(alice, url):
    response = client_for(alice).get(url)
    assert response.status_code == 403
    assert "Not allowed" in text(response)


def test_staff_nav_links_only_for_staff(alice, staff, backend):
    assert 'href="/staff/"' not in text(client_for(alice).get("/quickstart/"))
    assert 'href="/staff/"' in text(client_for(staff).get("/quickstart/"))


@pytest.mark.parametrize("url", USER_PAGES)
def test_every_user_page_renders_with_security_headers(alice, backend, url):
    response = client_for(alice).get(url)
    assert response.status_code == 200, url
    assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    if url != "/usage.csv":
        html = text(response)
        assert '<html lang="en">' in html and '<main id="main"' in html and "<h1" in html


def test_pages_run_no_inline_script(alice, staff, backend):
    for user, urls in ((alice, USER_PAGES), (staff, STAFF_PAGES)):
        for url in urls:
            html = text(client_for(user).get(url))
            for tag in re.findall(r"<script[^>]*>", html):
                assert "src=" in tag, (url, tag)
            assert " onclick=" not in html and ' style="' not in html, url


def test_forms_need_their_csrf_token(alice):
    client = client_for(alice, enforce_csrf_checks=True)
    assert client.post("/keys/", {"name": "x"}).status_code == 403
    assert client.post("/playground/key/").status_code == 403
    assert client.post("/accounts/logout/").status_code == 403
    assert not ApiKey.objects.exists()
    # With the token from the page it works.
    client.get("/keys/")
    token = client.cookies["csrftoken"].value
    response = client.post("/keys/", {"name": "x", "csrfmiddlewaretoken": token})
    assert response.status_code == 302 and ApiKey.objects.filter(user=alice).count() == 1


# --- Sign in, sign out, password, registration ------------------------------------------------


def test_sign_in_and_out(alice):
    client = Client()
    page = client.get("/accounts/login/")
    assert page.status_code == 200 and 'autocomplete="current-password"' in text(page)
    bad = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert bad.status_code == 200 and "didn't match" in text(bad)
    good = client.post("/accounts/login/", {"username": "alice", "password": "pw-alice-123", "next": "/keys/"})
    assert good.status_code == 302 and good.url == "/keys/"
    assert client.get("/accounts/login/").url == "/"  # already signed in
    assert client.get("/accounts/logout/").status_code == 405  # sign-out is a POST (CSRF-protected)
    out = client.post("/accounts/logout/")
    assert out.status_code == 302 and out.url == "/accounts/login/"
    assert client.get("/").status_code == 302


def test_inactive_users_cannot_sign_in(alice):
    alice.is_active = False
    alice.save()
    response = Client().post("/accounts/login/", {"username": "alice", "password": "pw-alice-123"})
    assert response.status_code == 200 and "not active" in text(response)


def test_change_password(alice):
    client = client_for(alice)
    assert client.get("/accounts/password/").status_code == 200
    response = client.post(
        "/accounts/password/",
        {"old_password": "pw-alice-123", "new_password1": "a-new-pw-4567", "new_password2": "a-new-pw-4567"},
    )
    assert response.status_code == 302 and response.url == "/accounts/password/done/"
    assert "Password changed" in text(client.get(response.url))
    alice.refresh_from_db()
    assert alice.check_password("a-new-pw-4567")


def test_registration_is_off_by_default(db, settings):
    assert settings.OLLAMAWEB_SELF_REGISTRATION == "off"
    assert Client().get("/accounts/register/").status_code == 404
    assert Client().post("/accounts/register/", {"username": "eve"}).status_code == 404
    assert Client().get("/accounts/register/some-token/").status_code == 404
    assert "Request one" not in text(Client().get("/accounts/login/"))


def signup(client, url, username="newbie"):
    return client.post(url, {"username": username, "password1": "a-long-pw-4567", "password2": "a-long-pw-4567"})


def test_registration_with_admin_approval(db, settings):
    settings.OLLAMAWEB_SELF_REGISTRATION = "approval"
    client = Client()
    assert "Request one" in text(client.get("/accounts/login/"))
    assert client.get("/accounts/register/").status_code == 200
    response = signup(client, "/accounts/register/")
    assert response.status_code == 200 and "waiting for an administrator" in text(response)
    user = User.objects.get(username="newbie")
    assert not user.is_active and not user.is_staff
    assert client.get("/").status_code == 302  # not signed in
    login = {"username": "newbie", "password": "a-long-pw-4567"}
    assert client.post("/accounts/login/", login).status_code == 200  # refused while inactive
    user.is_active = True
    user.save()
    assert client.post("/accounts/login/", login).status_code == 302


def test_registration_by_invite(staff, settings):
    settings.OLLAMAWEB_SELF_REGISTRATION = "invite"
    assert Client().get("/accounts/register/").status_code == 403  # invite only
    page = client_for(staff).post("/staff/invites/", {"note": "for Carol", "expires_in": "7"})
    [link] = re.findall(r'value="(http://testserver/accounts/register/[^"]+/)"', text(page))
    token = link.rsplit("/", 2)[1]
    invite = Invite.objects.get()
    assert invite.token_hash != token and token not in invite.token_hash  # only a hash is stored
    assert token not in text(client_for(staff).get("/staff/invites/"))  # shown once

    carol = Client()
    response = signup(carol, f"/accounts/register/{token}/", "carol")
    assert response.status_code == 302 and response.url == "/"
    user = User.objects.get(username="carol")
    assert user.is_active and not user.is_staff
    assert carol.get("/").status_code == 200  # signed in at once
    invite.refresh_from_db()
    assert invite.used_by == user and invite.status == "used"
    assert signup(Client(), f"/accounts/register/{token}/", "mallory").status_code == 404  # single use
    assert not User.objects.filter(username="mallory").exists()


def test_expired_invite_is_refused(staff, settings):
    settings.OLLAMAWEB_SELF_REGISTRATION = "invite"
    _, token = Invite.issue(staff, expires_at=timezone.now() - timedelta(minutes=1))
    assert Client().get(f"/accounts/register/{token}/").status_code == 404


# --- API keys --------------------------------------------------------------------------------


def test_create_key_shows_the_secret_once(alice, backend):
    client = client_for(alice)
    page = client.get("/keys/")
    assert "llama3:latest" in text(page) and "all-minilm:latest" in text(page)  # allow-list choices
    posted = client.post(
        "/keys/", {"name": "laptop", "expires_in": "30", "models": ["llama3:latest"], "other_models": "gpt-4o"}
    )
    assert posted.status_code == 302 and posted.url == "/keys/new/"  # post/redirect/get
    response = client.get(posted.url)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    [secret] = re.findall(r'value="(sk-[A-Za-z0-9_-]+)"', text(response))
    key = ApiKey.objects.get(user=alice)
    assert key.name == "laptop" and key.allowed_models == ["llama3:latest", "gpt-4o"]
    assert timedelta(days=29) < key.expires_at - timezone.now() <= timedelta(days=30)
    assert hashing.matches(secret, key.hashed_key) and secret != key.hashed_key
    assert "http://testserver/v1" in text(response)
    listing = text(client.get("/keys/"))
    assert key.prefix in listing and secret not in listing and secret[12:] not in listing


def test_key_form_rejects_bad_input(alice, backend):
    response = client_for(alice).post("/keys/", {"name": "", "other_models": "two words"})
    assert response.status_code == 400
    assert "This field is required" in text(response) and "is not a model name" in text(response)
    assert not ApiKey.objects.exists()


def test_keys_page_works_with_the_backend_down(alice, backend_down):
    page = client_for(alice).get("/keys/")
    assert page.status_code == 200 and 'name="other_models"' in text(page)


def test_users_only_see_and_revoke_their_own_keys(alice, bob):
    mine, _ = issue_key(alice, "alice key")
    theirs, _ = issue_key(bob, "bob key")
    client = client_for(alice)
    listing = text(client.get("/keys/"))
    assert mine.prefix in listing and theirs.prefix not in listing and "bob key" not in listing
    assert client.post(f"/keys/{theirs.pk}/revoke/").status_code == 404
    theirs.refresh_from_db()
    assert not theirs.revoked
    assert client.get(f"/keys/{mine.pk}/revoke/").status_code == 405
    response = client.post(f"/keys/{mine.pk}/revoke/", follow=True)
    assert "Revoked key" in text(response)
    mine.refresh_from_db()
    assert mine.revoked and mine.revoked_at
    # Revoked keys are hidden unless asked for.
    assert mine.prefix not in text(client.get("/keys/"))
    assert mine.prefix in text(client.get("/keys/?all=1"))


# --- Usage -----------------------------------------------------------------------------------


def test_dashboard_shows_only_own_usage(alice, bob):
    rollup(alice, "llama3", prompt_tokens=1200, completion_tokens=34, requests=7)
    rollup(alice, "qwen3", day=timezone.localdate() - timedelta(days=3), prompt_tokens=500, completion_tokens=0)
    rollup(bob, "secret-model-of-bob", prompt_tokens=999_999)
    log(alice, requested_model="llama3")
    log(bob, requested_model="secret-model-of-bob")
    html = text(client_for(alice).get("/"))
    assert "1,234" in html  # today's tokens
    assert "1,734" in html  # 30 days
    assert "<svg" in html and 'role="img"' in html and "Tokens per day, by model" in html
    assert "llama3" in html and "qwen3" in html
    assert "secret-model-of-bob" not in html and "999,999" not in html and "bob" not in html


def test_dashboard_shows_limits_with_reset_times(alice):
    QuotaPolicy.objects.create(tokens_per_day=1000, requests_per_minute=60)  # everyone
    QuotaPolicy.objects.create(user=alice, tokens_per_month=50_000)
    QuotaPolicy.objects.create(user=alice, model="llama3:latest", tokens_per_day=200)
    now = timezone.localtime()
    UsageCounter.objects.create(key=f"t:u{alice.pk}:d:{now:%Y-%m-%d}", used=250)
    UsageCounter.objects.create(key=f"t:u{alice.pk}:m:{now:%Y-%m}", used=12_500)
    UsageCounter.objects.create(key=f"t:u{alice.pk}:m:llama3:latest:d:{now:%Y-%m-%d}", used=190)
    html = text(client_for(alice).get("/"))
    assert "250 (25%)" in html and "1,000 tokens" in html
    assert "12,500 (25%)" in html and "50,000 tokens" in html
    assert "Model llama3:latest" in html and "190 (95%)" in html
    assert "60 requests" in html
    tomorrow = (now + timedelta(days=1)).strftime("%b %-d")
    assert f"{tomorrow}, 00:00" in html  # daily reset
    assert html.count("<meter") == 3


def test_requests_table_pages_through_own_rows(alice, bob):
    key, _ = issue_key(alice, "k")
    for i in range(120):
        log(alice, key, minutes_ago=i, requested_model=f"model-{i}", resolved_model=f"model-{i}")
    log(bob, requested_model="bobs-model")
    client = client_for(alice)
    first = text(client.get("/requests/"))
    assert "model-0<" in first and "model-49<" in first and "model-50<" not in first
    assert "bobs-model" not in first and "Newer" not in first
    older = re.search(r'href="\?before=([0-9.]+)"', first).group(1)
    second = text(client.get(f"/requests/?before={older}"))
    assert "model-50<" in second and "model-99<" in second and "model-49<" not in second
    third = text(client.get("/requests/?before=" + re.search(r'href="\?before=([0-9.]+)"', second).group(1)))
    assert "model-100<" in third and "model-119<" in third and "Older" not in third
    newer = re.search(r'href="\?after=([0-9.]+)"', third).group(1)
    back = text(client.get(f"/requests/?after={newer}"))
    assert "model-50<" in back and "model-99<" in back and "model-100<" not in back
    assert "bobs-model" not in back
    assert client.get("/requests/?before=garbage").status_code == 200


def test_csv_download_has_only_own_usage(alice, bob):
    rollup(alice, "llama3", key_prefix="sk-alice", prompt_tokens=3, completion_tokens=4, requests=2, errors=1)
    rollup(bob, "bobs-model")
    response = client_for(alice).get("/usage.csv")
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(text(response))))
    assert rows == [
        {
            "day": timezone.localdate().isoformat(), "key_name": "", "key_prefix": "sk-alice", "model": "llama3:latest",
            "requests": "2",
            "prompt_tokens": "3", "completion_tokens": "4", "total_tokens": "7", "errors": "1",
        }
    ]  # fmt: skip


# --- Models, playground, quick start ----------------------------------------------------------


def test_models_page_lists_models_aliases_and_restrictions(alice, backend):
    backend.add_model("deepseek-r1", capabilities=["completion", "thinking"], context_length=131072)
    ModelAlias.objects.create(name="gpt-4o", target="llama3", description="the house model")
    issue_key(alice, "restricted one", allowed_models=["llama3"])
    issue_key(alice, "open one")
    html = text(client_for(alice).get("/models/"))
    for expected in ("llama3:latest", "all-minilm:latest", "deepseek-r1:latest", "131,072", "thinking", "embeddings"):
        assert expected in html
    assert "gpt-4o" in html and "the house model" in html
    assert "restricted one" in html  # marked on llama3 and on nothing else
    assert html.count('class="tag key"') == 1
    assert "1 of your keys is limited" in html
    assert backend.url.split("://")[1] in html  # which backend serves it


def test_models_page_says_when_the_backend_is_down(alice, backend_down):
    ModelAlias.objects.create(name="gpt-4o", target="llama3")
    response = client_for(alice).get("/models/")
    html = text(response)
    assert response.status_code == 200
    assert "The model backend is unavailable" in html and "unreachable" in html
    assert "gpt-4o" in html  # aliases still listed


def test_catalog_is_cached_briefly(alice, backend):
    client = client_for(alice)
    client.get("/models/")
    client.get("/models/")
    client.get("/playground/")
    assert backend.counts_for("/api/tags") == 1
    client.get("/models/?refresh=1")
    assert backend.counts_for("/api/tags") == 2


def test_playground_page_and_its_key(alice, backend):
    ModelAlias.objects.create(name="gpt-4o", target="llama3")
    ModelAlias.objects.create(name="text-embedding-3-small", target="all-minilm")
    client = client_for(alice)
    html = text(client.get("/playground/"))
    assert '<option value="llama3:latest">' in html and '<option value="gpt-4o" selected>' in html
    assert "all-minilm" not in html  # embedding models cannot chat
    assert 'data-api="/v1/chat/completions"' in html
    assert client.get("/playground/key/").status_code == 405

    first = client.post("/playground/key/")
    assert first.status_code == 200 and first["Cache-Control"] == "no-store"
    secret = first.json()["secret"]
    key = ApiKey.objects.get(prefix=first.json()["prefix"])
    assert key.user == alice and key.name == PLAYGROUND_KEY_NAME and key.allowed_models == []
    assert hashing.matches(secret, key.hashed_key)
    assert timedelta(hours=11) < key.expires_at - timezone.now() <= timedelta(hours=12)
    assert secret not in text(client.get("/playground/")) and secret not in text(client.get("/keys/"))

    second = client.post("/playground/key/").json()
    key.refresh_from_db()
    assert key.revoked  # one live Playground key per user
    assert ApiKey.objects.get(prefix=second["prefix"]).status == "active"

    client.post("/accounts/logout/")  # signing out revokes it
    assert not ApiKey.objects.filter(user=alice, name=PLAYGROUND_KEY_NAME, revoked=False).exists()


def test_quickstart_uses_this_servers_url_and_aliases(alice, backend, settings):
    ModelAlias.objects.create(name="gpt-4o-mini", target="llama3")
    key, secret = issue_key(alice, "laptop")
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "gateway.example.com"]
    html = text(client_for(alice).get("/quickstart/", HTTP_HOST="gateway.example.com", secure=True))
    assert 'base_url="https://gateway.example.com/v1"' in html
    html = text(client_for(alice).get("/quickstart/"))
    assert 'base_url="http://testserver/v1"' in html and 'baseURL: "http://testserver/v1"' in html
    assert "curl http://testserver/v1/chat/completions" in html
    assert "gpt-4o-mini" in html and f"{key.prefix}…" in html and secret not in html


# --- Staff pages -----------------------------------------------------------------------------


def test_staff_overview(staff, alice, backend):
    key, _ = issue_key(alice, "k")
    log(alice, key, minutes_ago=1, prompt_tokens=100, completion_tokens=23)
    log(alice, key, minutes_ago=2, status=502, error="Ollama backend error (500): boom")
    log(alice, key, minutes_ago=60 * 30, status=500, error="too old to show")
    rollup(alice, "llama3", prompt_tokens=100, completion_tokens=23, requests=2, errors=1)
    html = text(client_for(staff).get("/staff/"))
    assert "Server overview" in html
    assert '<span class="status ok">up</span>' in html and backend.version in html
    assert "Ollama backend error (500): boom" in html and "too old to show" not in html
    assert "Requests per minute, last hour" in html and "Tokens per hour, last 24 hours" in html
    assert ">alice<" in html  # top users


def test_staff_overview_shows_a_down_backend(staff, backend_down):
    html = text(client_for(staff).get("/staff/"))
    assert '<span class="status bad">down</span>' in html and "unreachable" in html


def test_staff_feed_page_lists_recent_requests(staff, alice):
    log(alice, requested_model="feed-model")
    html = text(client_for(staff).get("/staff/feed/"))
    assert "feed-model" in html and 'data-ws="/ws/staff/feed/"' in html and "feed.js" in html


def test_invites_can_be_deleted_by_staff(staff):
    invite, _ = Invite.issue(staff, "x")
    response = client_for(staff).post(f"/staff/invites/{invite.pk}/delete/", follow=True)
    assert "no longer works" in text(response) and not Invite.objects.exists()


def test_a_failed_request_shows_its_request_id_to_quote(alice):
    from django.utils import timezone

    now = timezone.now()
    RequestLog.objects.create(
        request_id="req_0123456789abcdef01234567", created_at=now, finished_at=now, user=alice,
        endpoint="chat.completions", requested_model="nope", status=404, error="The model 'nope' does not exist",
        latency_ms=3.0,
    )  # fmt: skip
    assert "req_0123456789abcdef01234567" in client_for(alice).get("/requests/").content.decode()
