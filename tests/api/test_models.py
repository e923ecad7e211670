"""GET /v1/models and /v1/models/{model}: backend models plus aliases, per-key allow-lists."""

from datetime import datetime

import httpx
import openai
import pytest

from ollamaweb.catalog.models import ModelAlias
from ollamaweb.keys.services import issue_key


def unix(text):
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


@pytest.fixture
def namespaced_models(fake_ollama):
    fake_ollama.add_model("someuser/custom:7b", modified_at="2025-01-02T03:04:05.123456789Z")
    fake_ollama.add_model("hf.co/org/repo:Q4_K_M", modified_at="2025-06-30T23:59:59Z")
    return fake_ollama


def test_list_has_backend_models_and_aliases(client, namespaced_models):
    ModelAlias.objects.create(name="gpt-3.5-turbo", target="llama3")
    ModelAlias.objects.create(name="text-embedding-3-small", target="all-minilm:latest")

    page = client.models.list()

    listed = {entry.id: entry.to_dict() for entry in page.data}
    assert listed == {
        "all-minilm:latest": {
            "id": "all-minilm:latest",
            "object": "model",
            "created": unix("2024-05-01T10:00:00Z"),
            "owned_by": "library",
        },
        "llama3:latest": {
            "id": "llama3:latest",
            "object": "model",
            "created": unix("2024-05-01T10:00:00Z"),
            "owned_by": "library",
        },
        "someuser/custom:7b": {
            "id": "someuser/custom:7b",
            "object": "model",
            "created": unix("2025-01-02T03:04:05Z"),
            "owned_by": "someuser",
        },
        "hf.co/org/repo:Q4_K_M": {
            "id": "hf.co/org/repo:Q4_K_M",
            "object": "model",
            "created": unix("2025-06-30T23:59:59Z"),
            "owned_by": "org",
        },
        # Aliases: created as their target's modification time.
        "gpt-3.5-turbo": {
            "id": "gpt-3.5-turbo",
            "object": "model",
            "created": unix("2024-05-01T10:00:00Z"),
            "owned_by": "ollamaweb",
        },
        "text-embedding-3-small": {
            "id": "text-embedding-3-small",
            "object": "model",
            "created": unix("2024-05-01T10:00:00Z"),
            "owned_by": "ollamaweb",
        },
    }


def test_empty_backend_lists_an_empty_array(gateway, api_key, fake_ollama):
    for name in list(fake_ollama.models):
        fake_ollama.remove_model(name)
    response = httpx.get(gateway.url + "/v1/models", headers={"Authorization": f"Bearer {api_key[1]}"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"object": "list", "data": []}


def test_retrieve_plain_and_namespaced_ids(client, namespaced_models):
    llama3 = client.models.retrieve("llama3")
    assert llama3.to_dict() == {
        "id": "llama3",
        "object": "model",
        "created": unix("2024-05-01T10:00:00Z"),
        "owned_by": "library",
    }
    tagged = client.models.retrieve("llama3:latest")
    assert tagged.id == "llama3:latest"

    custom = client.models.retrieve("someuser/custom:7b")
    assert (custom.id, custom.created, custom.owned_by) == (
        "someuser/custom:7b",
        unix("2025-01-02T03:04:05Z"),
        "someuser",
    )

    hf = client.models.retrieve("hf.co/org/repo:Q4_K_M")
    assert (hf.id, hf.created, hf.owned_by) == ("hf.co/org/repo:Q4_K_M", unix("2025-06-30T23:59:59Z"), "org")

    shown = {request.json["model"] for request in namespaced_models.requests if request.path == "/api/show"}
    assert {"llama3", "someuser/custom:7b", "hf.co/org/repo:Q4_K_M"} <= shown


def test_retrieve_with_raw_slashes_in_the_path(gateway, api_key, namespaced_models):
    """Clients that do not percent-encode the id (curl, hand-written code) work too."""
    response = httpx.get(
        gateway.url + "/v1/models/hf.co/org/repo:Q4_K_M", headers={"Authorization": f"Bearer {api_key[1]}"}
    )
    assert response.status_code == 200
    assert response.json()["id"] == "hf.co/org/repo:Q4_K_M"
    assert response.json()["owned_by"] == "org"


def test_retrieve_an_alias(client, fake_ollama):
    ModelAlias.objects.create(name="gpt-4o", target="llama3")
    model = client.models.retrieve("gpt-4o")
    assert (model.id, model.owned_by, model.created) == ("gpt-4o", "ollamaweb", unix("2024-05-01T10:00:00Z"))
    shown = {request.json["model"] for request in fake_ollama.requests if request.path == "/api/show"}
    assert "llama3" in shown and "gpt-4o" not in shown  # the backend is asked about the target only


def test_retrieve_unknown_model_is_not_found(client, fake_ollama):
    with pytest.raises(openai.NotFoundError) as error:
        client.models.retrieve("no-such-model")
    body = error.value.body
    # As OpenAI answers for an unknown model.
    assert (body["type"], body["code"]) == ("invalid_request_error", "model_not_found")
    assert "no-such-model" in body["message"]
    assert error.value.status_code == 404


def test_key_with_allowed_models_sees_and_uses_only_those(gateway, user, namespaced_models):
    ModelAlias.objects.create(name="gpt-3.5-turbo", target="llama3")
    _, secret = issue_key(user, "limited", allowed_models=["llama3", "gpt-3.5-turbo", "someuser/custom:7b"])
    limited = openai.OpenAI(base_url=gateway.url + "/v1/", api_key=secret, max_retries=0, timeout=20)

    assert sorted(entry.id for entry in limited.models.list().data) == [
        "gpt-3.5-turbo",
        "llama3:latest",
        "someuser/custom:7b",
    ]
    assert limited.models.retrieve("llama3").id == "llama3"
    assert limited.models.retrieve("gpt-3.5-turbo").id == "gpt-3.5-turbo"

    for forbidden in ("all-minilm", "hf.co/org/repo:Q4_K_M"):
        with pytest.raises(openai.PermissionDeniedError) as error:
            limited.models.retrieve(forbidden)
        assert error.value.status_code == 403
        assert forbidden in error.value.body["message"]

    completion = limited.chat.completions.create(model="gpt-3.5-turbo", messages=[{"role": "user", "content": "hi"}])
    assert completion.choices[0].message.content
    with pytest.raises(openai.PermissionDeniedError) as error:
        limited.chat.completions.create(model="all-minilm", messages=[{"role": "user", "content": "hi"}])
    assert error.value.body["type"] == "permission_error"
    with pytest.raises(openai.PermissionDeniedError):
        limited.embeddings.create(model="all-minilm", input="hi", encoding_format="float")
    assert [request.path for request in namespaced_models.requests if request.path in ("/api/chat", "/api/embed")] == [
        "/api/chat"
    ]
