"""The Django admin pages for API keys, model aliases and request logs, as a staff user sees them."""

import re
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages.storage.cookie import CookieStorage
from django.db import connection
from django.test import RequestFactory

from ollamaweb.catalog.models import ModelAlias
from ollamaweb.keys import hashing
from ollamaweb.keys.models import ApiKey
from ollamaweb.keys.services import issue_key
from ollamaweb.usage.models import RequestLog

User = get_user_model()


@pytest.fixture
def key_and_secret(db):
    owner = User.objects.create_user("alice")
    return issue_key(owner, "alice's laptop", allowed_models=["llama3"])


def page(admin_browser, url, status=200):
    response = admin_browser.get(url)
    assert response.status_code == status, url
    return response.content.decode()


def test_admin_index_lists_the_gateway_models(admin_browser):
    html = page(admin_browser, "/admin/")
    for url in ("/admin/keys/apikey/", "/admin/catalog/modelalias/", "/admin/usage/requestlog/"):
        assert f'href="{url}"' in html


def test_key_pages_never_show_the_secret_or_its_hash(admin_browser, key_and_secret):
    key, secret = key_and_secret
    changelist = page(admin_browser, "/admin/keys/apikey/")
    change = page(admin_browser, f"/admin/keys/apikey/{key.pk}/change/")
    search = page(admin_browser, f"/admin/keys/apikey/?q={key.prefix}")

    assert key.prefix in changelist and "alice&#x27;s laptop" in changelist and "active" in changelist
    assert key.prefix in change and "llama3" in change
    assert key.prefix in search
    for html in (changelist, change, search):
        assert secret not in html
        assert secret[12:] not in html
        assert key.hashed_key not in html
        assert 'name="hashed_key"' not in html


def test_adding_a_key_shows_its_secret_once(admin_browser, key_and_secret):
    owner = key_and_secret[0].user
    assert page(admin_browser, "/admin/keys/apikey/add/")
    response = admin_browser.post(
        "/admin/keys/apikey/add/",
        {"user": owner.pk, "name": "from the admin", "expires_at_0": "", "expires_at_1": "", "allowed_models": ""},
    )
    key = ApiKey.objects.get(name="from the admin")
    # The secret goes to a page of its own through the session, not through the messages cookie.
    assert response.status_code == 302 and response.url == f"/admin/keys/apikey/{key.pk}/secret/"
    assert all("sk-" not in morsel.value for morsel in response.cookies.values())
    shown = admin_browser.get(response.url)
    assert "no-store" in shown["Cache-Control"]
    [secret] = re.findall(r'id="new-secret" type="text" value="(sk-[A-Za-z0-9_-]+)"', shown.content.decode())
    assert 'data-copy="#new-secret"' in shown.content.decode()  # the copy button
    assert all(secret not in morsel.value for morsel in shown.cookies.values())
    assert key.prefix == secret[:12] and hashing.matches(secret, key.hashed_key)
    again = admin_browser.get(response.url)  # once only
    assert again.status_code == 302 and secret not in admin_browser.get(again.url).content.decode()

    # Not in any cookie: Django's messages travel in a (signed, readable) cookie.
    for cookie in response.cookies.values():
        assert secret[12:] not in cookie.value
        if cookie.key == CookieStorage.cookie_name:
            stored = CookieStorage(RequestFactory().get("/"))._decode(cookie.value) or []
            assert not any(secret[12:] in str(message) for message in stored)

    # Afterwards, nowhere again: not on the pages, not in the database (sessions, admin history).
    for url in ("/admin/keys/apikey/", f"/admin/keys/apikey/{key.pk}/change/"):
        html = page(admin_browser, url)
        assert secret not in html and key.hashed_key not in html
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')
            assert not any(secret[12:] in str(value) for row in cursor.fetchall() for value in row), table


def test_revoke_action(admin_browser, key_and_secret):
    key, _ = key_and_secret
    response = admin_browser.post(
        "/admin/keys/apikey/", {"action": "revoke_keys", "_selected_action": [key.pk]}, follow=True
    )
    assert response.status_code == 200
    assert "Revoked 1 key(s)." in response.content.decode()
    key.refresh_from_db()
    assert key.revoked and key.revoked_at is not None
    assert "revoked" in page(admin_browser, "/admin/keys/apikey/")


def test_alias_pages(admin_browser):
    alias = ModelAlias.objects.create(name="gpt-3.5-turbo", target="llama3", description="for old tools")
    assert "gpt-3.5-turbo" in page(admin_browser, "/admin/catalog/modelalias/")
    assert "for old tools" in page(admin_browser, f"/admin/catalog/modelalias/{alias.pk}/change/")
    page(admin_browser, "/admin/catalog/modelalias/add/")
    response = admin_browser.post("/admin/catalog/modelalias/add/", {"name": "gpt-4o", "target": "qwen3:8b"})
    assert response.status_code == 302
    assert ModelAlias.objects.get(name="gpt-4o").target == "qwen3:8b"
    refused = admin_browser.post("/admin/catalog/modelalias/add/", {"name": "mine", "target": "mine"})
    assert refused.status_code == 200 and "An alias cannot point at itself." in refused.content.decode()
    assert not ModelAlias.objects.filter(name="mine").exists()


def test_request_logs_are_read_only(admin_browser, key_and_secret):
    key, secret = key_and_secret
    now = datetime.now(UTC)
    log = RequestLog.objects.create(
        created_at=now,
        finished_at=now,
        user=key.user,
        api_key=key,
        key_prefix=key.prefix,
        endpoint="chat.completions",
        requested_model="gpt-3.5-turbo",
        resolved_model="llama3",
        status=200,
        prompt_tokens=26,
        completion_tokens=7,
        latency_ms=120.0,
    )
    changelist = page(admin_browser, "/admin/usage/requestlog/")
    assert "gpt-3.5-turbo" in changelist and key.prefix in changelist
    assert "/admin/usage/requestlog/add/" not in changelist
    page(admin_browser, "/admin/usage/requestlog/add/", status=403)

    detail = page(admin_browser, f"/admin/usage/requestlog/{log.pk}/change/")
    assert "llama3" in detail
    assert 'name="_save"' not in detail and 'name="status"' not in detail  # no form fields, no save button
    response = admin_browser.post(f"/admin/usage/requestlog/{log.pk}/change/", {"status": 500})
    assert response.status_code == 403
    log.refresh_from_db()
    assert log.status == 200
    assert secret not in changelist and secret not in detail
