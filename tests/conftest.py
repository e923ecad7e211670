import tempfile
import time
from types import SimpleNamespace

import openai
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from ollamaweb.backends.registry import registry
from ollamaweb.catalog.aliases import alias_table
from ollamaweb.keys.cache import key_cache
from ollamaweb.keys.services import issue_key
from ollamaweb.quotas.policy import policy_table
from ollamaweb.teams.policy import team_directory
from ollamaweb.usage.models import RequestLog
from ollamaweb.usage.writer import log_writer
from tests.fake_ollama import FakeOllama
from tests.gateway_server import GatewayServer
from tests.ollama_cli import make_ollama_home


@pytest.fixture(scope="session")
def fake_ollama_server():
    with FakeOllama() as fake:
        yield fake


@pytest.fixture
def fake_ollama(fake_ollama_server):
    """The fake Ollama, reset, with llama3 (chat, tools, vision) and all-minilm (embeddings)."""
    fake = fake_ollama_server
    fake.reset()
    fake.add_model("llama3", capabilities=["completion", "tools", "vision"])
    fake.add_model("all-minilm", family="bert", capabilities=["embedding"], embedding_length=384)
    return fake


@pytest.fixture(scope="session")
def gateway_server(fake_ollama_server, django_db_setup, django_db_blocker):
    settings.OLLAMA_HOST = fake_ollama_server.url
    server = GatewayServer().start()
    yield server
    server.stop()


@pytest.fixture
def gateway(gateway_server, fake_ollama, transactional_db):
    """The running gateway (real ASGI server) in front of the fake Ollama, with empty tables."""
    key_cache.invalidate()
    alias_table.invalidate()
    team_directory.invalidate()
    policy_table.invalidate()
    registry.invalidate()
    yield gateway_server
    settle_logs(gateway_server)


def settle_logs(server, quiet_for=0.15, timeout=10):
    """Wait until requests have finished and their log rows are written."""
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        server.call(log_writer.flush())
        count = RequestLog.objects.count()
        if count == last and log_writer.pending == 0:
            return count
        last = count
        time.sleep(quiet_for)
    raise AssertionError("request logs did not settle")


def only_log(server) -> RequestLog:
    """The one request-log row, once the logs have settled."""
    settle_logs(server)
    return RequestLog.objects.get()


def assert_logged(server, **fields) -> RequestLog:
    """The one request-log row, once the logs have settled, with these field values."""
    row = only_log(server)
    assert {name: getattr(row, name) for name in fields} == fields
    return row


@pytest.fixture
def superuser(db):
    """A superuser, "boss", for the Django admin."""
    return get_user_model().objects.create_superuser("boss", email="boss@example.com", password="pw-boss-123")


@pytest.fixture
def admin_browser(superuser):
    """Django's test client (no server), signed in as `superuser`."""
    client = Client()
    client.force_login(superuser)
    return client


@pytest.fixture
def user(transactional_db):
    return get_user_model().objects.create_user("alice", password="pw-alice-123")


@pytest.fixture
def people(db):
    """The cast of the team tests: staff, a future team admin, a member and an outsider."""
    users = get_user_model().objects
    return SimpleNamespace(
        staff=users.create_user("boss", is_staff=True),
        admin=users.create_user("ann"),
        member=users.create_user("max"),
        outsider=users.create_user("otto"),
    )


@pytest.fixture
def api_key(user):
    """(ApiKey, secret) for alice."""
    return issue_key(user, "test key")


@pytest.fixture
def client(gateway, api_key):
    """The real OpenAI Python client pointed at the gateway with a valid key."""
    return openai.OpenAI(base_url=gateway.url + "/v1/", api_key=api_key[1], max_retries=0, timeout=20)


@pytest.fixture
def async_client(gateway, api_key):
    return openai.AsyncOpenAI(base_url=gateway.url + "/v1/", api_key=api_key[1], max_retries=0, timeout=20)


def pytest_configure(config):
    # Each run journals and spills request-log records in a folder of its own.
    settings.LOG_SPOOL_DIR = tempfile.mkdtemp(prefix="ollamaweb-spool-")
    # Real password hashing costs ~0.3 s per user; tests need no strength.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Health checks would add requests to the fake's record; backend tests turn them on.
    settings.BACKEND_HEALTH_INTERVAL = 0
    # Alert rounds only where a test asks for them (tests/metrics/test_alerts.py).
    settings.ALERT_INTERVAL = 0


@pytest.fixture
def ollama_home(tmp_path):
    """A home folder with the key pair `ollama` makes on its first start (.ollama/id_ed25519)."""
    make_ollama_home(tmp_path)
    return tmp_path


@pytest.fixture
def fresh_signatures():
    """No cached Ollama public key and no signature seen, before and after the test."""
    from ollamaweb.keys import signatures

    signatures.public_keys.invalidate()
    signatures.replay_guard.clear()
    yield
    signatures.replay_guard.clear()


@pytest.fixture
def start_fake():
    """Starts more fake Ollama servers, `start_fake(**options)` one; they are stopped after the test."""
    started = []

    def start(**options) -> FakeOllama:
        started.append(FakeOllama(**options).start())
        return started[-1]

    yield start
    for fake in started:
        fake.stop()
