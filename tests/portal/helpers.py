"""Shared set-up for the portal's view tests (Django's test client, no server)."""

import re
from datetime import UTC, datetime, timedelta

import httpx
from django.test import Client

from ollamaweb.portal.zones import quota_today
from ollamaweb.usage.models import RequestLog, UsageRollup


def client_for(user, **kwargs):
    client = Client(**kwargs)
    client.force_login(user)
    return client


def session_id(user) -> str:
    """A session signed in as `user` (made by Django's test client), for clients of the running server."""
    return client_for(user).cookies["sessionid"].value


def signed_in_http(user, server) -> httpx.Client:
    """An httpx client of the running server signed in as `user`."""
    return httpx.Client(
        base_url=server.url, cookies={"sessionid": session_id(user)}, timeout=20, follow_redirects=False
    )


def csrf(client, url):
    """The CSRF token of the form on the page at `url` (through Django's test client or an httpx client)."""
    page = client.get(url).content.decode()
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert found, f"no form on {url}: {page[:2000]}"
    return found.group(1)


def submit(client, url, data=None, *, page=None, **kwargs):
    """Posts `data` to `url` as the form on the page at `page` (by default `url` itself) would, CSRF token and all."""
    return client.post(url, data={"csrfmiddlewaretoken": csrf(client, page or url), **(data or {})}, **kwargs)


def text(response):
    return response.content.decode()


def log(user, key=None, minutes_ago=0, **fields):
    now = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    values = {
        "created_at": now,
        "finished_at": now,
        "user": user,
        "api_key": key,
        "key_prefix": key.prefix if key else "",
        "endpoint": "chat.completions",
        "requested_model": "llama3",
        "resolved_model": "llama3:latest",
        "status": 200,
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "latency_ms": 120.0,
        **fields,
    }
    return RequestLog.objects.create(**values)


def rollup(user, model="llama3", day=None, key_prefix="sk-test", **fields):
    values = {"requests": 1, "prompt_tokens": 10, "completion_tokens": 5, "errors": 0, **fields}
    return UsageRollup.objects.create(day=day or quota_today(), user=user, key_prefix=key_prefix, model=model, **values)
