"""End to end in Chromium: sign in, create a key, use it with the openai client, watch the usage
appear, chat in the Playground with streaming, revoke the key; and the staff's pages and live feed.

Screenshots of every page go to test-artifacts/screenshots/; the main ones also to docs/screenshots/.
"""

import openai
import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from ollamaweb.catalog.models import ModelAlias
from ollamaweb.keys.models import ApiKey
from ollamaweb.portal.playground_keys import PLAYGROUND_KEY_NAME
from ollamaweb.usage.models import RequestLog
from tests.browser.conftest import sign_in
from tests.conftest import settle_logs
from tests.fake_ollama import Reply

pytestmark = pytest.mark.browser

HI = [{"role": "user", "content": "Say hello"}]
STORY = "The quick brown fox jumps over the lazy dog and keeps running far away"


def openai_client(gateway, secret):
    return openai.OpenAI(base_url=gateway.url + "/v1/", api_key=secret, max_retries=0, timeout=20)


def no_horizontal_scroll(page):
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_user_journey(gateway, fake_ollama, user, new_page, screenshot):
    ModelAlias.objects.create(name="gpt-4o-mini", target="llama3", description="house model")
    page = new_page()

    # Signing in is the only way in.
    page.goto("/")
    assert "/accounts/login/" in page.url
    screenshot(page, "01-sign-in", docs=True)
    sign_in(page, "alice", "pw-alice-123")
    assert page.get_by_role("heading", name="Your usage").is_visible()

    # Create a key; its secret is shown once, with a copy button.
    page.get_by_role("link", name="API keys", exact=True).first.click()
    page.get_by_label("Name", exact=True).fill("laptop")
    page.get_by_label("Expires").select_option("30")
    page.get_by_role("button", name="Create key").click()
    secret = page.locator("#new-secret").input_value()
    assert secret.startswith("sk-") and len(secret) > 40
    page.get_by_role("button", name="Copy").first.click()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    screenshot(page, "02-key-created")  # the README shot: test_portal_pages.py
    key = ApiKey.objects.get(user=user, name="laptop")
    assert key.hashed_key != secret

    # Use it from the openai client; the usage shows up in the portal.
    fake_ollama.reply = Reply(content="Hi there!", prompt_eval_count=12, eval_count=30)
    client = openai_client(gateway, secret)
    client.chat.completions.create(model="llama3", messages=HI)
    client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    client.embeddings.create(model="all-minilm", input="hello")
    settle_logs(gateway)
    page.get_by_role("link", name="Usage").click()
    tokens = sum(row.total_tokens for row in RequestLog.objects.filter(user=user))
    assert tokens >= 84  # 2 chats × (12 + 30) tokens, plus the embedding's
    today = page.locator(".stat", has_text="Today").inner_text()
    assert f"{tokens:,} tokens" in today and "3 requests" in today
    recent = page.locator("table", has_text="Recent requests").or_(page.locator("section", has_text="Recent requests"))
    assert "gpt-4o-mini" in recent.first.inner_text() and "embeddings" in recent.first.inner_text()
    charts = page.locator("svg.chart")
    assert [charts.nth(i).get_attribute("id") for i in range(charts.count())] == [
        "chart-tokens", "chart-requests", "chart-gpu",
    ]  # fmt: skip
    screenshot(page, "03-usage")  # the README shot: test_portal_pages.py

    page.get_by_role("link", name="Requests", exact=True).click()
    assert page.locator("tbody tr").count() == 3
    screenshot(page, "04-requests")

    page.get_by_role("link", name="Models").click()
    models = page.locator("table.models").inner_text()
    assert "llama3:latest" in models and "vision" in models and "embeddings" in models
    assert "gpt-4o-mini" in page.locator("section", has_text="Aliases").inner_text()
    screenshot(page, "05-models")  # the README shot: test_portal_pages.py

    # The Playground streams tokens as they arrive, through /v1 with its own key.
    fake_ollama.reply = Reply(content=STORY, token_delay=0.12)
    page.get_by_role("link", name="Playground").click()
    page.get_by_label("Model", exact=True).select_option("gpt-4o-mini")
    page.get_by_label("System prompt").fill("You are terse.")
    page.get_by_label("Max tokens").fill("64")
    page.get_by_label("Message", exact=True).fill("Tell me a story")
    page.keyboard.press("Enter")
    reply = page.locator(".msg-assistant .content").last
    page.wait_for_function(
        "() => { const r = document.querySelector('.msg-assistant.streaming .content');"
        " return r && r.textContent.length > 0; }"
    )
    partial = reply.text_content()
    assert partial and partial != STORY  # some tokens shown, not all yet: it streams
    page.wait_for_selector(".msg-assistant:not(.streaming)")
    assert reply.text_content() == STORY
    assert "completion tokens" in page.locator("#pg-usage").inner_text()
    screenshot(page, "06-playground")  # the README shot: test_portal_pages.py
    settle_logs(gateway)
    row = RequestLog.objects.filter(stream=True).latest("created_at")
    assert row.requested_model == "gpt-4o-mini" and row.status == 200 and row.user_id == user.pk
    assert ApiKey.objects.get(prefix=row.key_prefix).name == PLAYGROUND_KEY_NAME
    chat_request = [r for r in fake_ollama.requests if r.path == "/api/chat"][-1].json
    assert chat_request["messages"][0] == {"role": "system", "content": "You are terse."}
    assert chat_request["options"]["num_predict"] == 64

    page.get_by_role("link", name="Quick start").click()
    assert f"{gateway.url}/v1" in page.locator("#qs-python").inner_text()
    screenshot(page, "07-quickstart")  # the README shot: test_portal_pages.py

    # Revoke the key: it stops working at once.
    page.get_by_role("link", name="API keys", exact=True).first.click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("tr", has_text="laptop").get_by_role("button", name="Revoke").click()
    assert "Revoked key" in page.locator(".messages").inner_text()
    assert "laptop" not in page.locator("table.keys").inner_text()
    screenshot(page, "08-keys")  # the README shot: test_portal_pages.py
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="llama3", messages=HI)

    # Phone width: no sideways scrolling of the page itself.
    phone = new_page(width=390, height=844)
    sign_in(phone, "alice", "pw-alice-123")
    assert no_horizontal_scroll(phone)
    screenshot(phone, "09-usage-phone")  # the README shot: test_portal_pages.py
    phone.goto("/playground/")
    assert no_horizontal_scroll(phone)
    screenshot(phone, "10-playground-phone")

    # Signing out revokes the Playground key.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/accounts/login/")
    assert not ApiKey.objects.filter(user=user, name=PLAYGROUND_KEY_NAME, revoked=False).exists()
    assert not page.errors, page.errors


def test_staff_overview_and_live_feed(gateway, fake_ollama, user, api_key, new_page, screenshot):
    get_user_model().objects.create_user("root", password="pw-root-123", is_staff=True)
    client = openai_client(gateway, api_key[1])
    client.chat.completions.create(model="llama3", messages=HI)
    settle_logs(gateway)

    page = new_page()
    sign_in(page, "root", "pw-root-123")
    page.get_by_role("link", name="Overview").click()
    backends = page.locator("section", has_text="Backends").inner_text()
    assert "up" in backends and fake_ollama.version in backends
    screenshot(page, "11-staff-overview")  # the README shot: test_portal_pages.py

    page.get_by_role("link", name="Live feed").first.click()
    expect(page.locator("#feed-status")).to_have_text("live")
    before = page.locator("#feed-rows tr").count()
    fake_ollama.reply = Reply(content="fresh from the feed", prompt_eval_count=5, eval_count=7)
    client.chat.completions.create(model="llama3", messages=HI, stream=True)
    expect(page.locator("#feed-rows tr")).to_have_count(before + 1)
    newest = page.locator("#feed-rows tr").first.inner_text()
    assert "alice" in newest and "llama3" in newest and "200" in newest and "stream" in newest
    screenshot(page, "12-live-feed")  # the README shot: test_portal_pages.py

    # A non-staff user gets neither page (the 403 is the only console message it causes).
    other = new_page()
    sign_in(other, "alice", "pw-alice-123")
    assert other.goto("/staff/feed/").status == 403
    assert "Overview" not in other.locator("nav").inner_text()
    assert not page.errors, page.errors
