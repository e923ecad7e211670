"""In Chromium: register the Ollama CLI's public key in the portal, then use it as the CLI would."""

import ollama
import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from ollamaweb.keys import services, signatures
from tests.browser.conftest import sign_in
from tests.ollama_cli import OllamaCLIAuth, make_ollama_home

pytestmark = pytest.mark.browser


def test_register_an_ollama_key_and_use_it_signed(new_page, screenshot, gateway, fake_ollama, tmp_path):
    user = get_user_model().objects.create_user("carol", password="pw-carol-123")
    key, _ = services.issue_key(user, "laptop")
    pub = make_ollama_home(tmp_path)
    signatures.public_keys.invalidate()

    page = new_page()
    sign_in(page, "carol", "pw-carol-123")
    page.goto("/keys/")
    page.get_by_role("link", name="Ollama keys").click()
    expect(page.get_by_role("heading", name="Ollama keys", level=1)).to_be_visible()
    page.get_by_label("Public key").fill(pub.read_text())
    page.get_by_label("Acts as API key").select_option(label=f"{key.prefix}… — laptop")
    page.get_by_role("button", name="Register key").click()
    expect(page.locator(".message.success")).to_contain_text("Registered Ollama key")
    row = page.locator("tr.ollama-key-row")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(key.prefix)
    screenshot(page, "ollama-keys")
    assert page.errors == []

    client = ollama.Client(host=gateway.url, auth=OllamaCLIAuth(tmp_path), timeout=20)
    assert "llama3:latest" in [m.model for m in client.list().models]

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Remove").click()
    expect(page.locator("tr.ollama-key-row")).to_have_count(0)
    with pytest.raises(ollama.ResponseError) as caught:
        client.list()
    assert caught.value.status_code == 401
