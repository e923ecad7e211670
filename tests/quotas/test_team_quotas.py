"""Team quotas: one budget for a whole team, on top of its members' and keys' limits, on every store.

The hierarchy (quotas/policy.py): a request must fit its team's limits, its user's (default →
user; not for a team's service key, whose use is the team's) and its key's.
"""

import asyncio
import io
import json

import openai
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from ollamaweb.keys.models import ApiKey
from ollamaweb.keys.services import issue_key
from ollamaweb.teams import services as teams
from ollamaweb.usage.models import RequestLog, UsageRollup
from tests.conftest import only_log, settle_logs
from tests.fake_ollama import Reply
from tests.quotas.helpers import COST, HI, counters, counters_when, fire, set_policy, wait_for_minute_headroom

pytestmark = pytest.mark.stores
User = get_user_model()


@pytest.fixture
def lab(gateway):
    """Team Lab with alice and bob (their default team), each with a personal key, and a team key."""
    boss = User.objects.create_user("boss", is_staff=True)
    alice, bob = User.objects.create_user("alice"), User.objects.create_user("bob")
    lab = teams.create_team(boss, "Lab")
    for member in (alice, bob):
        teams.add_member(boss, lab, member)
    _, alice_secret = issue_key(alice, "laptop")
    _, bob_secret = issue_key(bob, "laptop")
    _, team_secret = teams.issue_team_key(boss, lab, "service")
    return lab, alice, bob, alice_secret, bob_secret, team_secret


def openai_client(gateway, secret):
    return openai.OpenAI(base_url=gateway.url + "/v1/", api_key=secret, max_retries=0, timeout=20)


def test_a_team_quota_holds_across_its_members_under_concurrency(store, gateway, fake_ollama, lab):
    team, alice, bob, alice_secret, bob_secret, team_secret = lab
    fake_ollama.reply = Reply(tokens=["x"] * 20, prompt_eval_count=10, first_token_delay=0.05)
    quota = 30 * COST
    set_policy(team=team, tokens_per_day=quota)

    async def burst():
        return await asyncio.gather(
            fire(gateway.url, alice_secret, 100),
            fire(gateway.url, bob_secret, 100),
            fire(gateway.url, team_secret, 100),
        )

    results = [status for group in asyncio.run(burst()) for status, _, _ in group]
    assert results.count(200) >= 30 and results.count(200) + results.count(429) == 300
    settle_logs(gateway)
    served = RequestLog.objects.filter(status=200)
    used = sum(log.total_tokens for log in served)
    assert 0.9 * quota <= used <= quota  # the three keys together, never above the team's quota
    assert {log.team_id for log in RequestLog.objects.all()} == {team.pk}
    assert RequestLog.objects.values("key_prefix").distinct().count() == 3


def test_the_refusal_names_the_teams_quota(store, gateway, fake_ollama, lab):
    team, _, _, alice_secret, _, _ = lab
    fake_ollama.reply = Reply(content="x", prompt_eval_count=10, eval_count=20)
    set_policy(team=team, tokens_per_day=COST)
    openai_client(gateway, alice_secret).chat.completions.create(model="llama3", messages=HI, max_tokens=20)
    with pytest.raises(openai.RateLimitError) as refused:
        openai_client(gateway, alice_secret).chat.completions.create(model="llama3", messages=HI, max_tokens=20)
    assert refused.value.body["code"] == "insufficient_quota"
    assert "your team's daily token quota" in refused.value.body["message"]


def test_every_level_applies_default_team_user_and_key(store, gateway, fake_ollama, lab):
    """The tightest of default, team, user and key limits refuses, whichever level it is at."""
    team, alice, _, alice_secret, _, _ = lab
    fake_ollama.reply = Reply(content="x", prompt_eval_count=1, eval_count=1)
    client = openai_client(gateway, alice_secret)

    def requests_until_refused():
        served = 0
        for _ in range(6):
            try:
                client.chat.completions.create(model="llama3", messages=HI, max_tokens=20)
            except openai.RateLimitError as exc:
                return served, exc.body["message"]
            served += 1
        return served, ""

    set_policy(requests_per_minute=100)  # default
    set_policy(team=team, requests_per_minute=4)
    set_policy(user=alice, requests_per_minute=3)
    key = ApiKey.objects.get(user=alice)
    set_policy(api_key=key, requests_per_minute=2)
    wait_for_minute_headroom(20)  # every step below counts on the requests of the steps before
    served, message = requests_until_refused()
    assert served == 2 and "this API key's limit" in message
    # ... and the other levels already counted these two requests, so each refuses in turn.
    set_policy(api_key=key, requests_per_minute=None)
    served, message = requests_until_refused()
    assert served == 1 and "Rate limit reached: your limit is 3" in message
    set_policy(user=alice, requests_per_minute=None)
    served, message = requests_until_refused()
    assert served == 1 and "your team's limit is 4" in message


def test_a_team_key_is_held_to_the_teams_limits_not_its_creators(store, gateway, fake_ollama, lab):
    team, alice, _, _, _, team_secret = lab
    fake_ollama.reply = Reply(content="x", prompt_eval_count=1, eval_count=1)
    set_policy(tokens_per_day=1)  # the default for people: nothing fits
    set_policy(user=User.objects.get(username="boss"), tokens_per_day=1)  # the key's creator
    set_policy(team=team, tokens_per_day=10 * COST)
    client = openai_client(gateway, team_secret)
    for _ in range(3):
        assert client.chat.completions.create(model="llama3", messages=HI, max_tokens=20).choices
    settle_logs(gateway)
    assert list(counters_when(f"t:team{team.pk}:d:", 1).values()) == [6]
    assert counters("t:u") == {}


def test_per_model_team_limit(store, gateway, fake_ollama, lab):
    team, _, _, alice_secret, _, _ = lab
    fake_ollama.reply = Reply(content="x", prompt_eval_count=10, eval_count=20)
    set_policy(team=team, model="llama3:latest", tokens_per_day=COST)
    client = openai_client(gateway, alice_secret)
    client.chat.completions.create(model="llama3", messages=HI, max_tokens=20)
    with pytest.raises(openai.RateLimitError, match="for model llama3:latest"):
        client.chat.completions.create(model="llama3", messages=HI, max_tokens=20)
    assert client.embeddings.create(model="all-minilm", input="other models are not limited").data


def test_the_team_charged_is_the_one_of_the_moment(gateway, fake_ollama, lab):
    """A user in two teams: personal keys are charged to the default team when the request runs;
    rollups and reports keep each request with the team it was charged to."""
    team, alice, _, alice_secret, _, team_secret = lab
    ops = teams.create_team(User.objects.get(username="boss"), "Ops")
    teams.add_member(None, ops, alice)
    fake_ollama.reply = Reply(content="x", prompt_eval_count=2, eval_count=3)
    client = openai_client(gateway, alice_secret)
    client.chat.completions.create(model="llama3", messages=HI)
    teams.set_default_team(alice, alice, ops)
    client.chat.completions.create(model="llama3", messages=HI)
    client.chat.completions.create(model="llama3", messages=HI)
    openai_client(gateway, team_secret).chat.completions.create(model="llama3", messages=HI)
    settle_logs(gateway)
    assert sorted(RequestLog.objects.values_list("team__name", flat=True)) == ["Lab", "Lab", "Ops", "Ops"]
    rollups = {(r.team.name, r.user.username): r.requests for r in UsageRollup.objects.select_related("team", "user")}
    assert rollups == {("Lab", "alice"): 1, ("Ops", "alice"): 2, ("Lab", "boss"): 1}

    out = io.StringIO()
    call_command("usage", "--by", "team", "--format", "csv", stdout=out)
    assert out.getvalue().splitlines() == [
        "team,model,requests,prompt_tokens,completion_tokens,total_tokens,gpu_seconds,errors",
        f"Lab,llama3,2,4,6,10,{2 * 0.031},0",  # 1 ms + 2 × 0.2 ms + 3 × 10 ms, rounded, a request
        f"Ops,llama3,2,4,6,10,{2 * 0.031},0",
    ]
    out = io.StringIO()
    call_command("usage", "--team", "Ops", "--format", "json", stdout=out)
    assert [(row["user"], row["team"], row["requests"]) for row in json.loads(out.getvalue())] == [("alice", "Ops", 2)]


def test_a_team_deleted_mid_request_keeps_the_row(gateway, fake_ollama, lab):
    team, _, _, alice_secret, _, _ = lab
    fake_ollama.reply = Reply(tokens=["x"] * 5, token_delay=0.1)
    stream = openai_client(gateway, alice_secret).chat.completions.create(model="llama3", messages=HI, stream=True)
    next(iter(stream))
    teams.delete_team(User.objects.get(username="boss"), team)
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    row = only_log(gateway)
    assert row.status == 200 and row.team_id is None and row.completion_tokens == 5
