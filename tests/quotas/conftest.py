"""Fixtures of the quota tests."""

import pytest
from django.conf import settings

from tests.services import redis_url_or_skip


@pytest.fixture(params=["database", "redis"])
def store(request, gateway):
    """Run the test with quota counters in the database, then in Redis."""
    if request.param != "redis":
        yield request.param
        return
    import redis

    url = redis_url_or_skip()
    client = redis.Redis.from_url(url)

    def forget_counters():
        for key in client.scan_iter("ollamaweb:quota:*"):
            client.delete(key)

    forget_counters()
    settings.REDIS_URL = url
    yield request.param
    settings.REDIS_URL = ""
    forget_counters()
