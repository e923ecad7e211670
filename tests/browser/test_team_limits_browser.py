"""Team limits in Chromium: staff set a team's daily token quota on the team page, a member's
personal key is held to it by the running gateway, and the team admin reads the limits with the
team's usage (on the team page and on their own usage page) but has no form to change them."""

import openai
import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from ollamaweb.audit.models import AuditEvent
from ollamaweb.keys.services import issue_key
from ollamaweb.quotas.models import QuotaPolicy
from ollamaweb.teams import services
from ollamaweb.teams.models import Membership
from tests.browser.conftest import sign_in
from tests.fake_ollama import Reply
from tests.quotas.helpers import COST, HI

pytestmark = pytest.mark.browser
User = get_user_model()


def test_staff_set_team_limits_and_the_gateway_holds_the_team_to_them(gateway, fake_ollama, new_page, screenshot):
    boss = User.objects.create_user("boss", password="pw-boss-123", is_staff=True)
    ann = User.objects.create_user("ann", password="pw-ann-123")
    lab = services.create_team(boss, "Lab")
    services.add_member(boss, lab, ann, Membership.Role.ADMIN)
    _, secret = issue_key(ann, "laptop")

    staff = new_page()
    sign_in(staff, "boss", "pw-boss-123")
    staff.get_by_role("link", name="Teams", exact=True).click()
    staff.get_by_role("link", name="Lab").click()
    limits = staff.locator("#limits")
    expect(limits).to_contain_text("No team limits")
    limits.get_by_label("Tokens per day").fill(str(COST))
    limits.get_by_label("GPU-seconds per day").fill("3600")
    limits.get_by_role("button", name="Save team limits").click()
    expect(staff.get_by_text("Saved the limits of Lab on all models.")).to_be_visible()
    expect(limits.get_by_label("Tokens per day")).to_have_value(str(COST))
    assert QuotaPolicy.objects.get(team=lab).tokens_per_day == COST
    assert AuditEvent.objects.get(action="quota.create").actor == boss
    screenshot(staff, "25-team-limits-staff")
    assert staff.errors == []

    fake_ollama.reply = Reply(content="x", prompt_eval_count=10, eval_count=20)
    client = openai.OpenAI(base_url=gateway.url + "/v1/", api_key=secret, max_retries=0, timeout=20)
    client.chat.completions.create(model="llama3", messages=HI, max_tokens=20)
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model="llama3", messages=HI, max_tokens=20)
    assert "your team's daily token quota" in refused.value.body["message"]

    page = new_page()
    sign_in(page, "ann", "pw-ann-123")
    own_limits = page.locator("table.limits")
    expect(own_limits).to_contain_text("Team Lab, all models")
    expect(own_limits).to_contain_text(f"{COST} (100%)")
    expect(own_limits).to_contain_text("1 h 0 min GPU time")
    page.get_by_role("link", name="Teams", exact=True).click()
    page.get_by_role("link", name="Lab").click()
    team_limits = page.locator("#limits")
    expect(team_limits.locator("table.limits")).to_contain_text(f"{COST} (100%)")
    expect(team_limits).to_contain_text("Only staff change a team's limits: ask one of them")
    expect(team_limits.get_by_label("Tokens per day")).to_have_count(0)
    screenshot(page, "25-team-limits", docs=True)
    assert page.errors == []

    phone = new_page(390, 844)  # the staff's page, form included, fits a phone
    sign_in(phone, "boss", "pw-boss-123")
    phone.goto(f"/teams/{lab.pk}/")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    assert phone.locator("#limits td[data-label='Resets']").first.is_visible()
    screenshot(phone, "phone-team-limits")
    assert phone.errors == []
