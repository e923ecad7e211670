"""The `team` label of the request metrics: the charged team's name, bounded per process."""

import openai
import pytest
from django.contrib.auth import get_user_model

from ollamaweb.keys.services import issue_key
from ollamaweb.metrics import instruments
from ollamaweb.teams.services import add_member, create_team, issue_team_key
from tests.conftest import settle_logs

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def staff(transactional_db):
    return get_user_model().objects.create_user("root", is_staff=True)


def chat(gateway, secret: str, n: int = 1):
    client = openai.OpenAI(base_url=gateway.url + "/v1/", api_key=secret, max_retries=0, timeout=20)
    for _ in range(n):
        client.chat.completions.create(model="llama3", messages=HI)


def delta(before, after, name, **labels):
    return after.value(name, **labels) - before.value(name, **labels)


def test_requests_carry_the_charged_teams_name(gateway, client, user, staff, metrics, monkeypatch):
    monkeypatch.setattr(instruments, "teams", instruments.BoundedLabel(50))
    research = create_team(staff, "research")
    add_member(staff, research, user)  # alice's first team: her personal key is charged to it
    _, service_secret = issue_team_key(staff, create_team(staff, "support bot"), "bot")
    bob = get_user_model().objects.create_user("bob")  # in no team
    before = metrics()
    client.chat.completions.create(model="llama3", messages=HI)
    chat(gateway, service_secret, 2)
    chat(gateway, issue_key(bob, "b")[1])
    settle_logs(gateway)
    after = metrics()

    requests = "ollamaweb_requests_total"
    assert delta(before, after, requests, team="research", status_class="2xx") == 1
    assert delta(before, after, requests, team="support bot", status_class="2xx") == 2
    assert delta(before, after, requests, team="", status_class="2xx") == 1  # bob: no team
    for name in ("ollamaweb_tokens_total", "ollamaweb_gpu_seconds_total", "ollamaweb_request_duration_seconds_count"):
        assert delta(before, after, name, team="support bot") > 0, name
        assert {ls["team"] for ls in after.labelsets(name)} >= {"research", "support bot", ""}, name
    # Metrics without the label keep their series: no team dimension on the time to first token.
    assert all("team" not in ls for ls in after.labelsets("ollamaweb_time_to_first_token_seconds_bucket"))


def test_beyond_the_limit_teams_are_other(gateway, staff, metrics, monkeypatch):
    monkeypatch.setattr(instruments, "teams", instruments.BoundedLabel(2))
    secrets = [issue_team_key(staff, create_team(staff, f"team {i}"), "k")[1] for i in range(4)]
    before = metrics()
    for secret in secrets:
        chat(gateway, secret)
    chat(gateway, secrets[0])  # a team already named stays named
    settle_logs(gateway)
    after = metrics()
    requests = "ollamaweb_requests_total"
    assert delta(before, after, requests, team="team 0") == 2
    assert delta(before, after, requests, team="team 1") == 1
    assert delta(before, after, requests, team="other") == 2  # teams 2 and 3
    assert not {"team 2", "team 3"} & {ls["team"] for ls in after.labelsets(requests)}


def test_a_limit_of_zero_leaves_the_label_empty(gateway, staff, metrics, monkeypatch):
    monkeypatch.setattr(instruments, "teams", instruments.BoundedLabel(0))
    secret = issue_team_key(staff, create_team(staff, "quiet"), "k")[1]
    before = metrics()
    chat(gateway, secret)
    settle_logs(gateway)
    after = metrics()
    assert delta(before, after, "ollamaweb_requests_total", team="") == 1
    assert "quiet" not in {ls["team"] for ls in after.labelsets("ollamaweb_requests_total")}
