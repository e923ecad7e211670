"""Teams and the audit log in Chromium: a team admin manages members and a team key, the key works
from the openai client and is charged to the team, and staff find every action in the audit log."""

import openai
import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from ollamaweb.keys.models import ApiKey
from ollamaweb.teams import services
from ollamaweb.teams.models import Membership
from tests.browser.conftest import sign_in
from tests.conftest import settle_logs
from tests.fake_ollama import Reply

pytestmark = pytest.mark.browser
User = get_user_model()


def test_team_admin_and_audit_log(gateway, fake_ollama, new_page, screenshot):
    boss = User.objects.create_user("boss", password="pw-boss-123", is_staff=True)
    ann = User.objects.create_user("ann", password="pw-ann-123")
    User.objects.create_user("max", password="pw-max-123")
    lab = services.create_team(boss, "Lab", "the ML lab", ["llama3"])
    services.add_member(boss, lab, ann, Membership.Role.ADMIN)

    page = new_page()
    sign_in(page, "ann", "pw-ann-123")
    page.get_by_role("link", name="Teams", exact=True).click()
    page.get_by_role("link", name="Lab").click()
    expect(page.get_by_role("heading", name="Team Lab")).to_be_visible()

    page.get_by_label("Username").fill("max")
    page.get_by_role("button", name="Add member").click()
    expect(page.locator("tr[data-member=max]")).to_contain_text("max")

    page.get_by_label("Name", exact=True).fill("ci bot")
    page.get_by_role("button", name="Create team key").click()
    secret = page.locator("#new-secret").input_value()
    assert secret.startswith("sk-")
    page.get_by_role("link", name="Done — back to Lab").click()
    key = ApiKey.objects.get(team=lab)

    fake_ollama.reply = Reply(content="Hi!", prompt_eval_count=12, eval_count=30)
    client = openai.OpenAI(base_url=gateway.url + "/v1/", api_key=secret, max_retries=0, timeout=20)
    client.chat.completions.create(model="llama3", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.PermissionDeniedError):
        client.embeddings.create(model="all-minilm", input="x")  # not among the team's models
    settle_logs(gateway)
    page.reload()
    expect(page.locator(f"tr[data-prefix={key.prefix}]")).to_contain_text("42")
    expect(page.locator(".team-today")).to_contain_text("42 tokens")
    screenshot(page, "23-team-admin", docs=True)

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=f"Revoke key {key.prefix}").click()
    expect(page.locator(f"tr[data-prefix={key.prefix}]")).to_contain_text("revoked")
    assert page.errors == []

    staff = new_page()
    sign_in(staff, "boss", "pw-boss-123")
    staff.get_by_role("link", name="Audit log").click()
    rows = staff.locator("table.audit tbody tr")
    for action in ("team.create", "team.member_add", "key.create", "key.revoke", "auth.login"):
        expect(staff.locator(f"tr[data-action='{action}']").first).to_be_visible()
    staff.get_by_label("Who").fill("ann")
    staff.get_by_label("Action").fill("key.")
    staff.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("key.revoke")
    expect(rows.last).to_contain_text("key.create")
    assert key.hashed_key not in staff.content() and secret not in staff.content()
    screenshot(staff, "24-audit-log", docs=True)
    assert staff.errors == []
