"""Shared set-up for the portal's view tests (Django's test client, no server)."""

import re
from datetime import UTC, datetime, timedelta

from django.test import Client

from ollamaweb.portal.zones import quota_today
from ollamaweb.usage.models import RequestLog, UsageRollup


def client_for(user, **kwargs):
    client = Client(**kwargs)
    client.force_login(user)
    return client


def csrf(client, url):
    """The CSRF token of the form on the page at `url`."""
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', client.get(url).content.decode()).group(1)


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
