import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache

from ollamaweb.quotas.policy import policy_table

User = get_user_model()


@pytest.fixture(autouse=True)
def fresh_caches():
    cache.clear()  # the catalog and the overview's hourly numbers
    policy_table.invalidate()
    yield
    cache.clear()


@pytest.fixture
def backend(fake_ollama, settings):
    settings.OLLAMA_HOST = fake_ollama.url
    return fake_ollama


@pytest.fixture
def alice(db):
    return User.objects.create_user("alice", password="pw-alice-123")


@pytest.fixture
def bob(db):
    return User.objects.create_user("bob", password="pw-bob-123")


@pytest.fixture
def staff(db):
    return User.objects.create_user("root", password="pw-root-123", is_staff=True)
