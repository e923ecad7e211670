"""The portal's Ollama keys page: register the CLI's public key, see it, remove it; own keys only."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from ollamaweb.keys import services
from ollamaweb.keys.models import OllamaPublicKey
from tests.ollama_cli import make_ollama_home

User = get_user_model()


@pytest.fixture
def alice(db):
    return User.objects.create_user("alice", password="pw-alice-123")


@pytest.fixture
def pub_line(tmp_path):
    return make_ollama_home(tmp_path).read_text().strip() + " alice@laptop"


def client_for(user, **kwargs):
    client = Client(**kwargs)
    client.force_login(user)
    return client


def test_the_page_needs_a_sign_in(db):
    response = Client().get("/keys/ollama/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_without_an_api_key_it_asks_for_one_first(alice):
    page = client_for(alice).get("/keys/ollama/")
    assert page.status_code == 200
    assert b"Create an API key</a> first" in page.content
    assert b"OLLAMA_AUTH=1" in page.content and b'export OLLAMA_HOST="http://testserver"' in page.content
    assert page["Cache-Control"] == "no-store" and "Content-Security-Policy" in page


def test_register_list_and_remove(alice, pub_line):
    key, _ = services.issue_key(alice, "laptop")
    client = client_for(alice)
    response = client.post("/keys/ollama/", {"public_key": pub_line, "api_key": key.pk, "name": ""}, follow=True)
    assert response.status_code == 200
    registered = OllamaPublicKey.objects.get()
    assert registered.user == alice and registered.api_key == key and registered.name == "alice@laptop"
    assert f"Registered Ollama key {registered.fingerprint}".encode() in response.content
    assert registered.fingerprint.encode() in client.get("/keys/ollama/").content
    again = client.post("/keys/ollama/", {"public_key": pub_line, "api_key": key.pk})
    assert again.status_code == 400 and b"already registered" in again.content
    removed = client.post(f"/keys/ollama/{registered.pk}/remove/", follow=True)
    assert b"stops working at once" in removed.content
    assert not OllamaPublicKey.objects.exists()


def test_bad_keys_and_foreign_api_keys_are_refused(alice, pub_line):
    bob = User.objects.create_user("bob", password="pw-bob-123")
    bobs_key, _ = services.issue_key(bob, "bob's")
    own, _ = services.issue_key(alice, "mine")
    client = client_for(alice)
    bad = client.post("/keys/ollama/", {"public_key": "ssh-rsa AAAAB3NzaC1yc2E", "api_key": own.pk})
    assert bad.status_code == 400 and b"Only ssh-ed25519 keys are supported" in bad.content
    foreign = client.post("/keys/ollama/", {"public_key": pub_line, "api_key": bobs_key.pk})
    assert foreign.status_code == 400 and b"Select a valid choice" in foreign.content
    # Bob's key is not even offered
    page = client.get("/keys/ollama/").content.decode()
    assert own.prefix in page and bobs_key.prefix not in page
    assert not OllamaPublicKey.objects.exists()


def test_users_cannot_remove_each_others_keys(alice, pub_line):
    key, _ = services.issue_key(alice, "laptop")
    client_for(alice).post("/keys/ollama/", {"public_key": pub_line, "api_key": key.pk})
    registered = OllamaPublicKey.objects.get()
    bob = User.objects.create_user("bob", password="pw-bob-123")
    response = client_for(bob).post(f"/keys/ollama/{registered.pk}/remove/", follow=True)
    assert b"already removed" in response.content
    assert OllamaPublicKey.objects.filter(pk=registered.pk).exists()
    assert registered.fingerprint not in client_for(bob).get("/keys/ollama/").content.decode()


def test_forms_need_their_csrf_token(alice, pub_line):
    key, _ = services.issue_key(alice, "laptop")
    client = client_for(alice, enforce_csrf_checks=True)
    assert client.post("/keys/ollama/", {"public_key": pub_line, "api_key": key.pk}).status_code == 403
    page = client.get("/keys/ollama/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    ok = client.post("/keys/ollama/", {"public_key": pub_line, "api_key": key.pk, "csrfmiddlewaretoken": token})
    assert ok.status_code == 302 and OllamaPublicKey.objects.count() == 1


def test_the_keys_page_links_here(alice):
    assert b'href="/keys/ollama/"' in client_for(alice).get("/keys/").content


def test_quick_start_shows_the_ollama_configuration(alice):
    page = client_for(alice).get("/quickstart/").content.decode()
    assert 'Client(host="http://testserver", headers={"Authorization": "Bearer sk-…"})' in page
    assert 'export OLLAMA_HOST="http://testserver"' in page and "export OLLAMA_AUTH=1" in page
    assert 'href="/keys/ollama/"' in page
