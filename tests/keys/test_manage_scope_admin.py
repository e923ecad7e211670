"""Staff grant and revoke the "manage models" scope in the admin; the keys list shows it."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from ollamaweb.keys import services
from ollamaweb.keys.models import OllamaPublicKey
from tests.ollama_cli import make_ollama_home

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client():
    root = get_user_model().objects.create_superuser("root", password="pw-root-123")
    client = Client()
    client.force_login(root)
    return client


def test_staff_grant_and_revoke_the_scope_with_the_admin_actions(admin_client):
    alice = get_user_model().objects.create_user("alice", password="pw-alice-123")
    key, _ = services.issue_key(alice, "k")
    url = "/admin/keys/apikey/"
    response = admin_client.post(url, {"action": "grant_manage_models", "_selected_action": [key.pk]}, follow=True)
    assert b"1 key(s) may now manage models" in response.content
    key.refresh_from_db()
    assert key.can_manage_models is True
    admin_client.post(url, {"action": "revoke_manage_models", "_selected_action": [key.pk]})
    key.refresh_from_db()
    assert key.can_manage_models is False
    assert admin_client.get(url + "?can_manage_models__exact=0").status_code == 200


def test_the_admin_lists_ollama_keys_and_cannot_add_them(admin_client, tmp_path):
    alice = get_user_model().objects.create_user("alice", password="pw-alice-123")
    key, _ = services.issue_key(alice, "k")
    public = services.register_ollama_key(alice, key, make_ollama_home(tmp_path).read_text())
    page = admin_client.get("/admin/keys/ollamapublickey/")
    assert page.status_code == 200 and public.fingerprint.encode() in page.content
    assert admin_client.get("/admin/keys/ollamapublickey/add/").status_code == 403
    admin_client.post(f"/admin/keys/ollamapublickey/{public.pk}/delete/", {"post": "yes"})
    assert not OllamaPublicKey.objects.exists()
