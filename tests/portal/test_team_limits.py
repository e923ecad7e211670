"""A team's limits in the portal: on the team page (members and admins read them, staff set them,
with an audit row), and on a member's usage page (the team their personal keys are charged to)."""

import re

import pytest
from django.contrib.auth import get_user_model

from ollamaweb.audit.models import AuditEvent
from ollamaweb.portal.zones import quota_now
from ollamaweb.quotas.counters import DAY, GPU, MONTH, TEAM, TOKENS, CounterKey, Scope
from ollamaweb.quotas.models import QuotaPolicy, UsageCounter
from ollamaweb.quotas.services import set_limits
from ollamaweb.teams import services
from ollamaweb.teams.models import Membership
from tests.portal.helpers import client_for, csrf, text

User = get_user_model()


@pytest.fixture
def lab(people):
    team = services.create_team(people.staff, "Lab")
    services.add_member(people.staff, team, people.admin, Membership.Role.ADMIN)
    services.add_member(people.staff, team, people.member)
    return team


def used(team, kind, period, amount, model=""):
    """The team's counter in the quota store (the database store in these tests)."""
    now = quota_now()
    start = f"{now:%Y-%m-%d}" if period == DAY else f"{now:%Y-%m}"
    UsageCounter.objects.create(key=str(CounterKey(Scope(TEAM, team.pk, model), kind, period, start)), used=amount)


def limits_section(html):
    return re.search(r'id="limits".*?</section>', html, re.S).group(0)


def visible(html):
    """The text a reader sees (a meter's fallback text left out: the row says the same)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", re.sub(r"<meter.*?</meter>", "", html, flags=re.S)))


def post_limits(client, team, data, status=302):
    url = f"/teams/{team.pk}/"
    response = client.post(f"{url}limits/", {"csrfmiddlewaretoken": csrf(client, url), **data})
    assert response.status_code == status, text(response)[:2000]
    return response


def test_members_and_admins_see_the_teams_limits_with_the_teams_usage(people, lab):
    set_limits(team=lab, tokens_per_day=1000, gpu_seconds_per_month=3600, requests_per_minute=30)
    set_limits(team=lab, model="llama3:latest", tokens_per_month=5000)
    set_limits(user=people.member, tokens_per_day=10)  # a person's own limit: not the team's
    used(lab, TOKENS, DAY, 250)
    used(lab, GPU, MONTH, 900_000)  # milliseconds: 15 minutes
    used(lab, TOKENS, MONTH, 4_600, model="llama3")
    for person in (people.member, people.admin, people.staff):
        section = visible(limits_section(text(client_for(person).get(f"/teams/{lab.pk}/"))))
        assert "All models Today 250 (25%) 1,000 tokens" in section, person
        assert "All models This month 15 min 0 s (25%) 1 h 0 min GPU time" in section
        assert "All models Per minute — 30 requests" in section
        assert "Model llama3:latest This month 4,600 (92%) 5,000 tokens" in section
        assert "10 tokens" not in section
    assert client_for(people.outsider).get(f"/teams/{lab.pk}/").status_code == 404


def test_a_team_without_limits_says_so(people, lab):
    section = visible(limits_section(text(client_for(people.member).get(f"/teams/{lab.pk}/"))))
    assert "No team limits: only each member's and each key's own limits apply." in section
    assert "<meter" not in section


def test_staff_set_a_teams_limits_with_an_audit_row(people, lab):
    boss = client_for(people.staff)
    post_limits(boss, lab, {"model": "", "tokens_per_day": "20000", "gpu_seconds_per_day": "600"})
    policy = QuotaPolicy.objects.get(team=lab)
    assert (policy.model, policy.tokens_per_day, policy.gpu_seconds_per_day) == ("", 20_000, 600)
    assert policy.user_id is None and policy.api_key_id is None
    event = AuditEvent.objects.get(action="quota.create")
    assert event.actor == people.staff and event.source == "portal" and event.target_repr == "team Lab"
    assert event.after["tokens_per_day"] == 20_000 and event.after["team"] == lab.pk

    used(lab, GPU, DAY, 150_000)
    html = text(boss.get(f"/teams/{lab.pk}/"))
    assert "Saved the limits of Lab on all models." in html
    assert "Used 2 min 30 s (25%)" in limits_section(html)  # beside the GPU-seconds per day field
    assert 'value="20000"' in limits_section(html)

    post_limits(boss, lab, {"model": "", "tokens_per_day": "30000", "gpu_seconds_per_day": "600"})
    assert QuotaPolicy.objects.get(team=lab).tokens_per_day == 30_000
    update = AuditEvent.objects.get(action="quota.update")
    assert update.before["tokens_per_day"] == 20_000 and update.after["tokens_per_day"] == 30_000

    post_limits(boss, lab, {"model": ""})  # every field empty: the team's policy goes
    assert not QuotaPolicy.objects.filter(team=lab).exists()
    assert AuditEvent.objects.filter(action="quota.delete", actor=people.staff).count() == 1
    assert "Removed the limits of Lab on all models" in text(boss.get(f"/teams/{lab.pk}/"))


def test_staff_set_a_teams_limits_on_one_model(people, lab):
    boss = client_for(people.staff)
    post_limits(boss, lab, {"model": "llama3", "tokens_per_month": "5000"})
    assert QuotaPolicy.objects.get(team=lab, model="llama3").tokens_per_month == 5000
    # `llama3:latest` is the same model: the same policy is changed, not a second one made.
    post_limits(boss, lab, {"model": "llama3:latest", "tokens_per_month": "7000"})
    assert list(QuotaPolicy.objects.filter(team=lab).values_list("model", "tokens_per_month")) == [("llama3", 7000)]
    html = text(boss.get(f"/teams/{lab.pk}/?limits_model=llama3"))
    assert 'href="?limits_model=llama3#limits"' in html
    form = re.search(r'class="quota-form team-limits-form".*?</form>', html, re.S).group(0)
    assert 'name="model" value="llama3"' in form and 'value="7000"' in form
    assert "Model llama3 This month 0 (0%) 7,000 tokens" in visible(limits_section(html))


def test_team_admins_and_members_cannot_change_the_limits(people, lab):
    set_limits(team=lab, tokens_per_day=1000)
    for person in (people.admin, people.member):
        client = client_for(person)
        html = text(client.get(f"/teams/{lab.pk}/"))
        assert "Set the team's limits" not in html and 'name="tokens_per_day"' not in html
        assert "Only staff change a team's limits" in limits_section(html)
        post_limits(client, lab, {"model": "", "tokens_per_day": "999999"}, status=403)
    assert "ask one of them" in text(client_for(people.admin).get(f"/teams/{lab.pk}/"))
    assert QuotaPolicy.objects.get(team=lab).tokens_per_day == 1000
    assert not AuditEvent.objects.filter(action__startswith="quota.").exclude(actor=None).exists()
    assert client_for(people.outsider).post(f"/teams/{lab.pk}/limits/", {"tokens_per_day": "1"}).status_code == 404


@pytest.mark.parametrize(
    "data, error",
    [
        ({"tokens_per_day": "-5"}, "greater than or equal to 0"),
        ({"tokens_per_day": "1" + "0" * 30}, "less than or equal to"),
        ({"max_concurrent": "99999999999"}, "less than or equal to"),
        ({"tokens_per_day": "many"}, "Enter a whole number"),
        ({"model": "two words", "tokens_per_day": "5"}, "is not a model name"),
    ],
)
def test_bad_limits_are_refused_with_the_reason(people, lab, data, error):
    response = post_limits(client_for(people.staff), lab, {"model": "", **data}, status=400)
    assert error in text(response) and not QuotaPolicy.objects.exists()


def test_a_members_usage_page_shows_their_default_teams_limits(people, lab):
    ops = services.create_team(people.staff, "Ops")
    services.add_member(people.staff, ops, people.member)  # not his default team: Lab is
    set_limits(team=lab, tokens_per_day=1000, gpu_seconds_per_day=120)
    set_limits(team=lab, model="llama3", tokens_per_month=5000)
    set_limits(team=ops, tokens_per_day=7777)
    used(lab, TOKENS, DAY, 400)  # the whole team's use
    used(lab, GPU, DAY, 90_000)
    html = text(client_for(people.member).get("/"))
    table = visible(re.search(r'class="data limits.*?</table>', html, re.S).group(0))
    assert "Team Lab, all models Today 400 (40%) 1,000 tokens" in table
    assert "Team Lab, all models Today 1 min 30 s (75%) 2 min 0 s GPU time" in table  # readable GPU time
    assert "Team Lab, model llama3 This month 0 (0%) 5,000 tokens" in table
    assert "7,777" not in html and "Ops" not in table
    assert "A team's limits count the whole team's use together" in html

    services.set_default_team(people.member, people.member, ops)
    table = visible(text(client_for(people.member).get("/")))
    assert "Team Ops, all models Today 0 (0%) 7,777 tokens" in table and "Team Lab" not in table
    assert "Team Lab" not in visible(text(client_for(people.outsider).get("/")))
