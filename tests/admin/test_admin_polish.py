"""The admin, as a staff member uses it: model lists typed as names, readable durations, a clear
message for a duplicate quota, partial request-log search, and a user's related pages."""

from django.contrib.auth import get_user_model

from ollamaweb.keys.services import issue_key
from ollamaweb.quotas.models import QuotaPolicy, UsageCounter
from tests.portal.helpers import log

User = get_user_model()


def html(response):
    return response.content.decode()


def test_allowed_models_are_typed_as_names(admin_browser, superuser):
    key, _ = issue_key(superuser, "k", allowed_models=["gpt-4o", "llama3:latest"])
    page = html(admin_browser.get(f"/admin/keys/apikey/{key.pk}/change/"))
    assert "gpt-4o\nllama3:latest</textarea>" in page and "one per line or separated by commas" in page
    form = {"name": "k", "expires_at_0": "", "expires_at_1": "", "allowed_models": "gpt-4o, qwen3:8b\nmistral"}
    response = admin_browser.post(f"/admin/keys/apikey/{key.pk}/change/", form)
    assert response.status_code == 302, html(response)[:3000]
    key.refresh_from_db()
    assert key.allowed_models == ["gpt-4o", "qwen3:8b", "mistral"]
    response = admin_browser.post(f"/admin/keys/apikey/{key.pk}/change/", {**form, "allowed_models": "two words"})
    assert response.status_code == 200 and "is not a model name" in html(response)
    admin_browser.post(f"/admin/keys/apikey/{key.pk}/change/", {**form, "allowed_models": ""})
    key.refresh_from_db()
    assert key.allowed_models == []


def test_request_log_durations_are_readable(admin_browser, superuser):
    row = log(superuser, ttft_ms=1101.0365429999638, latency_ms=84.2)
    listing = html(admin_browser.get("/admin/usage/requestlog/"))
    assert "1.1 s" in listing and "84 ms" in listing and "1101.03" not in listing
    detail = html(admin_browser.get(f"/admin/usage/requestlog/{row.pk}/change/"))
    assert "1.1 s" in detail and "1101.03" not in detail


def test_request_log_search_matches_parts(admin_browser, superuser):
    key, _ = issue_key(superuser, "nightly-batch")
    log(superuser, key, requested_model="qwen3:8b", client_user="team-research")
    other = User.objects.create_user("someone-else")
    log(other, None, requested_model="other-model")
    for query in ("bos", key.prefix[:6], "nightly", "qwen", "research"):
        page = html(admin_browser.get("/admin/usage/requestlog/", {"q": query}))
        assert "qwen3:8b" in page and "other-model" not in page, query


def test_a_duplicate_default_quota_says_what_exists(admin_browser):
    QuotaPolicy.objects.create(tokens_per_day=1000)
    response = admin_browser.post("/admin/quotas/quotapolicy/add/", {"model": "", "tokens_per_day": "5"})
    page = html(response)
    assert response.status_code == 200
    assert "There is already the default policy for all models: edit that one instead" in page
    assert "quota_one_default_per_model" not in page
    assert QuotaPolicy.objects.count() == 1


def test_quota_lists_filter_by_scope_and_kind(admin_browser):
    alice = User.objects.create_user("alice")
    QuotaPolicy.objects.create(model="default-model", tokens_per_day=1000)
    QuotaPolicy.objects.create(user=alice, model="alice-model", tokens_per_day=10)
    for scope, shown, hidden in (
        ("everyone", "default-model", "alice-model"),
        ("user", "alice-model", "default-model"),
    ):
        page = html(admin_browser.get("/admin/quotas/quotapolicy/", {"scope": scope}))
        assert f'field-model">{shown}<' in page and f'field-model">{hidden}<' not in page, scope
    UsageCounter.objects.create(key=f"t:u{alice.pk}:d:2026-11-25", used=5)
    UsageCounter.objects.create(key=f"c:u{alice.pk}", used=1)
    tokens = html(admin_browser.get("/admin/quotas/usagecounter/", {"kind": "t"}))
    assert "alice · tokens on 2026-11-25" in tokens and "requests in flight" not in tokens
    in_flight = html(admin_browser.get("/admin/quotas/usagecounter/", {"kind": "c"}))
    assert "alice · requests in flight" in in_flight and "2026-11-25" not in in_flight


def test_user_page_links_to_keys_quotas_and_requests(admin_browser):
    alice = User.objects.create_user("alice")
    page = html(admin_browser.get(f"/admin/auth/user/{alice.pk}/change/"))
    for link in (
        f"/admin/keys/apikey/?user__id__exact={alice.pk}",
        f"/admin/quotas/quotapolicy/?user__id__exact={alice.pk}",
        f"/admin/usage/requestlog/?user__id__exact={alice.pk}",
        f"/staff/users/{alice.pk}/",
    ):
        assert f'href="{link}"' in page, link
        assert admin_browser.get(link).status_code == 200, link
