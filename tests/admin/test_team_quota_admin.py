"""Team quota policies in the Django admin: the team is found by autocomplete, policies are added,
changed, listed and refused in words, and every change is audited (through quotas.services)."""

import json

from django.contrib.auth import get_user_model

from ollamaweb.audit.models import AuditEvent
from ollamaweb.quotas.models import ONE_SCOPE, QuotaPolicy
from ollamaweb.teams import services as teams

User = get_user_model()
ADD = "/admin/quotas/quotapolicy/add/"
EMPTY = {"user": "", "api_key": "", "team": "", "model": ""}


def html(response):
    return response.content.decode()


def test_team_policies_in_the_admin(admin_browser, superuser):
    lab, ops = teams.create_team(superuser, "Lab"), teams.create_team(superuser, "Ops")
    page = html(admin_browser.get(ADD))
    assert 'name="team"' in page and "admin-autocomplete" in page
    assert 'name="gpu_seconds_per_day"' in page

    found = admin_browser.get(
        "/admin/autocomplete/", {"app_label": "quotas", "model_name": "quotapolicy", "field_name": "team", "term": "la"}
    )
    assert found.status_code == 200
    assert json.loads(found.content)["results"] == [{"id": str(lab.pk), "text": "Lab"}]

    response = admin_browser.post(ADD, {**EMPTY, "team": lab.pk, "tokens_per_day": "5000", "gpu_seconds_per_day": "60"})
    assert response.status_code == 302, html(response)[:3000]
    policy = QuotaPolicy.objects.get(team=lab)
    assert (policy.tokens_per_day, policy.gpu_seconds_per_day, policy.user_id) == (5000, 60, None)
    event = AuditEvent.objects.get(action="quota.create")
    assert event.actor == superuser and event.source == "admin" and event.target_repr == "team Lab"

    change = html(admin_browser.get(f"/admin/quotas/quotapolicy/{policy.pk}/change/"))
    assert f'<option value="{lab.pk}" selected>Lab</option>' in change and 'value="5000"' in change
    response = admin_browser.post(
        f"/admin/quotas/quotapolicy/{policy.pk}/change/", {**EMPTY, "team": lab.pk, "tokens_per_day": "6000"}
    )
    assert response.status_code == 302 and QuotaPolicy.objects.get(pk=policy.pk).tokens_per_day == 6000
    assert AuditEvent.objects.get(action="quota.update").before["tokens_per_day"] == 5000

    QuotaPolicy.objects.create(user=superuser, tokens_per_day=1)
    listing = html(admin_browser.get("/admin/quotas/quotapolicy/", {"scope": "team"}))
    assert "team Lab" in listing and f"user {superuser}" not in listing
    assert "team Lab" in html(admin_browser.get("/admin/quotas/quotapolicy/", {"q": "la"}))

    duplicate = admin_browser.post(ADD, {**EMPTY, "team": lab.pk, "tokens_per_day": "1"})
    assert duplicate.status_code == 200
    assert "There is already a policy for team Lab for all models: edit that one instead." in html(duplicate)
    both = admin_browser.post(ADD, {**EMPTY, "team": ops.pk, "user": superuser.pk, "tokens_per_day": "1"})
    assert both.status_code == 200 and ONE_SCOPE in html(both).replace("&#x27;", "'")
    assert not QuotaPolicy.objects.filter(team=ops).exists()
