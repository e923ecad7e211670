"""The Ollama CLI's way in (OLLAMA_AUTH=1): requests signed as tests/ollama_cli.py transcribes from the
CLI's Go source, through the real server, acting as the registered key's API key.

No build of the `ollama` CLI can be installed from the package registries this project uses (PyPI's
`ollama` and npm's `ollama` are the client libraries; Debian 12 has no ollama package), so the
signing client is the transcription, driven through the real ollama-python library.
"""

import time

import httpx
import ollama
import pytest

from ollamaweb.keys import services
from ollamaweb.usage.models import RequestLog
from tests.api.test_ollama_python import staff_user
from tests.conftest import settle_logs
from tests.ollama_cli import OllamaCLIAuth, make_ollama_home, signed_headers

pytestmark = pytest.mark.usefixtures("fresh_signatures")


@pytest.fixture
def bound_key(user, ollama_home):
    key, _ = services.issue_key(user, "laptop")
    services.register_ollama_key(user, key, (ollama_home / ".ollama" / "id_ed25519.pub").read_text())
    return key


def cli(gateway, ollama_home, **kwargs):
    """What `OLLAMA_HOST=<gateway> OLLAMA_AUTH=1 ollama …` sends, through ollama-python."""
    return ollama.Client(host=gateway.url, auth=OllamaCLIAuth(ollama_home, **kwargs), timeout=20)


def test_ollama_run_sequence_works_signed(gateway, fake_ollama, ollama_home, bound_key):
    """`ollama run llama3` (interactive): HEAD /, /api/show twice within a second, a load, then chat."""
    client = cli(gateway, ollama_home)
    params, headers = signed_headers(ollama_home, "HEAD", "/")
    assert httpx.head(gateway.url + "/", params=params, headers=headers).status_code == 200
    assert "tools" in client.show("llama3").capabilities
    assert client.show("llama3").details.family == "llama"  # the same signature again: allowed
    assert client.generate(model="llama3").done  # the CLI's loadOrUnloadModel
    answer = client.chat(model="llama3", messages=[{"role": "user", "content": "hi"}])
    assert answer.message.content == "Hello there, friend!"
    settle_logs(gateway)
    logs = list(RequestLog.objects.order_by("created_at"))
    assert [log.endpoint for log in logs] == ["ollama.show", "ollama.show", "ollama.generate", "ollama.chat"]
    assert {(log.key_prefix, log.user_id, log.status) for log in logs} == {(bound_key.prefix, bound_key.user_id, 200)}
    assert logs[-1].prompt_tokens > 0 and logs[-1].completion_tokens > 0


def test_ollama_list_and_pull_signed(gateway, fake_ollama, ollama_home, bound_key):
    client = cli(gateway, ollama_home)
    assert sorted(m.model for m in client.list().models) == ["all-minilm:latest", "llama3:latest"]
    with pytest.raises(ollama.ResponseError) as caught:
        list(client.pull("mistral", stream=True))
    assert caught.value.status_code == 403  # the bound key may not manage models (yet)
    services.grant_manage_models(bound_key, staff_user())
    statuses = [line.status for line in client.pull("mistral", stream=True)]
    assert statuses[0] == "pulling manifest" and statuses[-1] == "success"
    assert "mistral:latest" in fake_ollama.models


def test_an_unregistered_key_gets_a_401_with_the_portal_page(gateway, fake_ollama, tmp_path, bound_key):
    stranger = tmp_path / "stranger"
    make_ollama_home(stranger)
    with pytest.raises(ollama.ResponseError) as caught:
        cli(gateway, stranger).list()
    assert caught.value.status_code == 401
    params, headers = signed_headers(stranger, "GET", "/api/tags")
    raw = httpx.get(gateway.url + "/api/tags", params=params, headers=headers)
    assert raw.status_code == 401 and "not registered" in raw.json()["error"]
    assert raw.json()["signin_url"] == gateway.url + "/keys/ollama/"  # the CLI prints it


def test_stale_forged_and_replayed_signatures_are_refused(gateway, fake_ollama, ollama_home, bound_key, settings):
    stale = cli(gateway, ollama_home, clock=lambda: time.time() - 3600)
    with pytest.raises(ollama.ResponseError) as caught:
        stale.list()
    assert caught.value.status_code == 401

    params, headers = signed_headers(ollama_home, "GET", "/api/ps")  # signed for another route
    assert httpx.get(gateway.url + "/api/tags", params=params, headers=headers).status_code == 401

    params, headers = signed_headers(ollama_home, "GET", "/api/tags")
    statuses = [
        httpx.get(gateway.url + "/api/tags", params=params, headers=headers).status_code
        for _ in range(settings.SIGNATURE_MAX_USES + 1)
    ]
    assert statuses == [200] * settings.SIGNATURE_MAX_USES + [401]
    assert "already been used" in httpx.get(gateway.url + "/api/tags", params=params, headers=headers).json()["error"]


def test_a_revoked_api_key_stops_its_ollama_key(gateway, fake_ollama, ollama_home, bound_key):
    client = cli(gateway, ollama_home)
    assert client.list().models
    services.revoke_key(bound_key)
    with pytest.raises(ollama.ResponseError) as caught:
        client.list()
    assert caught.value.status_code == 401
