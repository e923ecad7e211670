"""API-key authentication on /v1: headers, failures, revocation, expiry, and how keys are stored."""

import hashlib
import hmac
import time
from datetime import timedelta

import httpx
import openai
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from ollamaweb.keys.models import ApiKey
from ollamaweb.keys.services import issue_key, revoke_key, set_users_active
from ollamaweb.usage.models import RequestLog
from tests.conftest import settle_logs

CHAT = {"model": "llama3", "messages": [{"role": "user", "content": "hi"}]}


def get_models(gateway, headers):
    return httpx.get(gateway.url + "/v1/models", headers=headers, timeout=20)


def bearer(secret):
    return {"Authorization": f"Bearer {secret}"}


def assert_openai_error(response, status, code=None):
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code
    return body["error"]


def test_bearer_and_api_key_headers_both_work(gateway, api_key, fake_ollama):
    secret = api_key[1]
    by_bearer = get_models(gateway, bearer(secret))
    by_api_key = get_models(gateway, {"api-key": secret})
    lower_scheme = get_models(gateway, {"Authorization": f"bearer {secret}"})
    assert by_bearer.status_code == by_api_key.status_code == lower_scheme.status_code == 200
    assert by_bearer.json() == by_api_key.json() == lower_scheme.json()
    assert {entry["id"] for entry in by_bearer.json()["data"]} == {"llama3:latest", "all-minilm:latest"}
    settle_logs(gateway)
    assert (
        list(RequestLog.objects.values_list("status", "user_id", "key_prefix"))
        == [(200, api_key[0].user_id, api_key[0].prefix)] * 3
    )


def test_missing_key_is_401_with_an_openai_body(gateway, fake_ollama):
    error = assert_openai_error(get_models(gateway, {}), 401, "invalid_api_key")
    assert error["type"] == "invalid_request_error"
    assert "API key" in error["message"]
    assert_openai_error(get_models(gateway, {"Authorization": "Bearer"}), 401, "invalid_api_key")

    client = openai.OpenAI(base_url=gateway.url + "/v1/", api_key="unused", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as raised:
        client.chat.completions.create(**CHAT, extra_headers={"Authorization": openai.omit})
    assert raised.value.request.headers.get("Authorization") is None
    assert raised.value.status_code == 401
    assert fake_ollama.counts_for("/api/chat") == 0
    settle_logs(gateway)
    assert list(RequestLog.objects.values_list("status", flat=True)) == [401] * 3
    assert RequestLog.objects.filter(user__isnull=False).count() == 0


def test_wrong_key_is_401_and_never_echoed_or_logged(gateway, api_key, fake_ollama):
    real_secret = api_key[1]
    wrong_keys = [
        real_secret[:-1] + ("A" if real_secret[-1] != "A" else "B"),  # the right prefix, a wrong secret
        "sk-" + "x" * 43,
        "not-even-shaped-like-a-key-0123456789",
    ]
    for wrong in wrong_keys:
        for headers in (bearer(wrong), {"api-key": wrong}):
            response = get_models(gateway, headers)
            assert_openai_error(response, 401, "invalid_api_key")
            assert wrong not in response.text
        client = openai.OpenAI(base_url=gateway.url + "/v1/", api_key=wrong, max_retries=0)
        with pytest.raises(openai.AuthenticationError) as raised:
            client.chat.completions.create(**CHAT)
        assert wrong not in str(raised.value.body) and wrong not in raised.value.response.text
    assert fake_ollama.counts_for("/api/chat") == 0

    settle_logs(gateway)
    rows = list(RequestLog.objects.values())
    assert len(rows) == 3 * 3
    for row in rows:
        assert row["status"] == 401 and row["user_id"] is None and row["api_key_id"] is None
        assert row["key_prefix"] == ""
        for value in row.values():
            assert not any(wrong in str(value) for wrong in wrong_keys)
            assert real_secret not in str(value)


def test_revoked_key_stops_working_within_the_cache_ttl(gateway, api_key, fake_ollama):
    """Revoked by another process (no signal reaches this one): refused within 1.5 s."""
    key, secret = api_key
    assert get_models(gateway, bearer(secret)).status_code == 200

    ApiKey.objects.filter(pk=key.pk).update(revoked=True, revoked_at=timezone.now())  # update(): no signals
    revoked_at = time.monotonic()
    while (response := get_models(gateway, bearer(secret))).status_code == 200:
        assert time.monotonic() - revoked_at < 1.5, "a revoked key kept working for more than 1.5 s"
        time.sleep(0.05)
    error = assert_openai_error(response, 401)
    assert "revoked" in error["message"]


def test_revoking_in_this_process_takes_effect_at_once(gateway, user, fake_ollama):
    key, secret = issue_key(user, "soon revoked")
    assert get_models(gateway, bearer(secret)).status_code == 200
    revoke_key(key)
    assert_openai_error(get_models(gateway, bearer(secret)), 401)


def test_expired_key_is_401(gateway, user, fake_ollama):
    _, expired = issue_key(user, "old", expires_at=timezone.now() - timedelta(seconds=1))
    error = assert_openai_error(get_models(gateway, bearer(expired)), 401)
    assert "expired" in error["message"]

    expires_at = timezone.now() + timedelta(seconds=1)
    _, expiring = issue_key(user, "short-lived", expires_at=expires_at)
    assert get_models(gateway, bearer(expiring)).status_code == 200
    time.sleep(max(0.0, (expires_at - timezone.now()).total_seconds()) + 0.05)
    assert_openai_error(get_models(gateway, bearer(expiring)), 401)  # even while the key is cached


def test_inactive_users_key_is_401(gateway, api_key, fake_ollama):
    key, secret = api_key
    assert get_models(gateway, bearer(secret)).status_code == 200
    set_users_active([key.user], False)
    assert_openai_error(get_models(gateway, bearer(secret)), 401)


def test_keys_are_stored_only_as_hmac_hashes(gateway, api_key, fake_ollama):
    key, secret = api_key
    get_models(gateway, bearer(secret))  # so the request log has a row too
    settle_logs(gateway)

    key.refresh_from_db()
    derived = hashlib.sha256(b"ollamaweb api key v1:" + settings.SECRET_KEY.encode()).digest()
    assert key.hashed_key == hmac.new(derived, secret.encode(), hashlib.sha256).hexdigest()
    assert key.hashed_key != hashlib.sha256(secret.encode()).hexdigest()  # not an unsalted hash
    assert key.prefix == secret[:12]

    # No column of any table holds the secret (or anything past its 12-character prefix).
    tail = secret[12:]
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')
            for row in cursor.fetchall():
                for value in row:
                    text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
                    assert tail not in text, f"the API key secret is stored in table {table}"


def test_last_used_at_is_stamped(gateway, api_key, fake_ollama):
    key, secret = api_key
    assert key.last_used_at is None
    before = timezone.now()
    assert get_models(gateway, bearer(secret)).status_code == 200
    settle_logs(gateway)
    key.refresh_from_db()
    assert key.last_used_at is not None
    assert before <= key.last_used_at <= timezone.now()
