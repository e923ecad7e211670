"""The keys page: post/redirect/get with the secret held once in the session, no Playground keys,
names instead of prefixes everywhere, and each key's usage and own limits."""

import csv
import io
import re
import time

from django.db import connection

from ollamaweb.keys import hashing
from ollamaweb.keys.cache import key_cache
from ollamaweb.keys.models import ApiKey
from ollamaweb.keys.services import issue_key
from ollamaweb.portal.playground_keys import PLAYGROUND_KEY_NAME, issue_playground_key
from ollamaweb.portal.views.keys import NEW_KEY_SESSION
from ollamaweb.portal.zones import quota_now
from ollamaweb.quotas.models import QuotaPolicy, UsageCounter
from tests.portal.helpers import client_for, log, rollup, text


def secret_in_database(secret: str) -> bool:
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')
            if any(secret[12:] in str(value) for row in cursor.fetchall() for value in row):
                return True
    return False


def test_creating_a_key_redirects_and_a_reload_creates_nothing(alice, backend):
    client = client_for(alice)
    posted = client.post("/keys/", {"name": "laptop", "expires_in": "30"})
    assert posted.status_code == 302 and posted.url == "/keys/new/"
    assert ApiKey.objects.filter(user=alice).count() == 1
    held = client.session[NEW_KEY_SESSION]["secret"]  # held in the server-side session until shown
    assert held.startswith("sk-") and all(held not in morsel.value for morsel in posted.cookies.values())

    shown = client.get("/keys/new/")
    assert shown.status_code == 200 and shown["Cache-Control"] == "no-store"
    [secret] = re.findall(r'id="new-secret" class="secret mono" type="text" value="(sk-[A-Za-z0-9_-]+)"', text(shown))
    key = ApiKey.objects.get(user=alice)
    assert hashing.matches(secret, key.hashed_key) and "laptop" in text(shown)
    assert secret == held
    assert NEW_KEY_SESSION not in client.session and not secret_in_database(secret)  # shown once, then gone

    reload = client.get("/keys/new/", follow=True)  # the browser's reload of the secret page
    assert reload.redirect_chain == [("/keys/", 302)]
    assert secret not in text(reload) and "shown only once" in text(reload)
    assert ApiKey.objects.filter(user=alice).count() == 1


def test_the_secret_page_shows_only_the_users_own_new_key(alice, bob):
    key, _ = issue_key(bob, "bobs")
    client = client_for(alice)
    session = client.session
    session[NEW_KEY_SESSION] = {"id": key.pk, "secret": "sk-forged", "at": time.time()}
    session.save()
    assert client.get("/keys/new/").status_code == 302


def test_a_secret_not_fetched_at_once_is_dropped(alice):
    client = client_for(alice)
    client.post("/keys/", {"name": "laptop"})
    assert NEW_KEY_SESSION in client.session
    client.get("/keys/")  # went elsewhere instead of the secret page
    assert NEW_KEY_SESSION not in client.session
    client.post("/keys/", {"name": "desktop"})
    session = client.session
    session[NEW_KEY_SESSION] = {**session[NEW_KEY_SESSION], "at": time.time() - 3600}  # an old one
    session.save()
    assert client.get("/keys/new/").status_code == 302 and NEW_KEY_SESSION not in client.session


def test_playground_keys_are_not_listed(alice):
    issue_key(alice, "laptop")
    playground, _ = issue_playground_key(alice)
    html = text(client_for(alice).get("/keys/"))
    assert "laptop" in html and playground.prefix not in html and PLAYGROUND_KEY_NAME not in html
    assert "The Playground uses a separate short-lived key" in html
    assert playground.prefix not in text(client_for(alice).get("/keys/?all=1"))


def test_each_key_shows_its_usage_this_month_and_its_own_limits(alice):
    laptop, _ = issue_key(alice, "laptop")
    ci, _ = issue_key(alice, "ci-pipeline")
    rollup(alice, key_prefix=laptop.prefix, requests=3, prompt_tokens=1000, completion_tokens=234)
    rollup(alice, key_prefix=ci.prefix, requests=1, prompt_tokens=7, completion_tokens=0)
    QuotaPolicy.objects.create(api_key=ci, tokens_per_day=5000, requests_per_minute=10)
    UsageCounter.objects.create(key=f"t:k{ci.pk}:d:{quota_now():%Y-%m-%d}", used=1200)
    html = text(client_for(alice).get("/keys/"))
    rows = {name: re.search(rf"<tr class=\"key-row[^>]*>\s*<th[^>]*>{name}</th>(.*?)</tr>", html, re.S).group(1)
            for name in ("laptop", "ci-pipeline")}  # fmt: skip
    assert "1,234 tokens" in rows["laptop"] and "3 requests" in rows["laptop"] and "only yours" in rows["laptop"]
    assert "7 tokens" in rows["ci-pipeline"] and "1 request<" in rows["ci-pipeline"]
    assert "1,200 of 5,000 tokens today" in rows["ci-pipeline"] and "10 requests per minute" in rows["ci-pipeline"]


def test_requests_and_csv_name_the_keys(alice):
    key, _ = issue_key(alice, "laptop")
    log(alice, key, requested_model="named-key-model")
    rollup(alice, key_prefix=key.prefix)
    client = client_for(alice)
    for url in ("/", "/requests/"):
        html = text(client.get(url))
        assert f'<span class="key-name" title="{key.prefix}…">laptop</span>' in html, url
    rows = list(csv.DictReader(io.StringIO(text(client.get("/usage.csv")))))
    assert rows[0]["key_name"] == "laptop" and rows[0]["key_prefix"] == key.prefix


def test_csv_has_one_row_per_model_name(alice):
    key, _ = issue_key(alice, "laptop")
    rollup(alice, "mistral", key_prefix=key.prefix, requests=2, prompt_tokens=10, completion_tokens=1)
    rollup(alice, "mistral-nemo", key_prefix=key.prefix)
    rollup(alice, "mistral:latest", key_prefix=key.prefix, requests=3, prompt_tokens=5, completion_tokens=4, errors=1)
    rows = list(csv.DictReader(io.StringIO(text(client_for(alice).get("/usage.csv")))))
    assert [(r["model"], r["requests"], r["total_tokens"], r["errors"]) for r in rows] == [
        ("mistral-nemo:latest", "1", "15", "0"),
        ("mistral:latest", "5", "20", "1"),
    ]


def test_revoking_forgets_the_cached_key_at_once(alice):
    key, _ = issue_key(alice, "laptop")
    key_cache._entries[key.prefix] = (float("inf"), object())
    response = client_for(alice).post(f"/keys/{key.pk}/revoke/", follow=True)
    assert "Revoked key “laptop”" in text(response)
    assert key.prefix not in key_cache._entries
