"""Teams: the charging rule (pure), the services with their permissions and audit rows, team keys
through the key cache and the running gateway, and the portal's team pages."""

import re
from types import SimpleNamespace

import openai
import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.utils import timezone

from ollamaweb.audit.models import AuditEvent
from ollamaweb.catalog.models import ModelAlias
from ollamaweb.keys.cache import key_cache
from ollamaweb.keys.models import ApiKey
from ollamaweb.keys.services import issue_key
from ollamaweb.teams import services
from ollamaweb.teams.models import Membership, Team
from ollamaweb.teams.policy import TeamDirectory, TeamInfo, load_directory, model_allowed, team_directory, team_for
from tests.portal.helpers import client_for, csrf, rollup, submit

User = get_user_model()


# --- The rule (pure) ------------------------------------------------------------------------------

LAB = TeamInfo(1, "lab", frozenset({"llama3", "gpt-4o"}))
OPS = TeamInfo(2, "ops")
DIRECTORY = TeamDirectory(teams={1: LAB, 2: OPS}, default_team={10: 1, 11: 2})


def identity(user_id, team_id=None):
    return SimpleNamespace(user_id=user_id, team_id=team_id)


def test_a_team_key_is_charged_to_its_team_whoever_made_it():
    assert team_for(identity(10, team_id=2), DIRECTORY) is OPS
    assert team_for(identity(99, team_id=1), DIRECTORY) is LAB


def test_a_personal_key_is_charged_to_the_owners_default_team():
    assert team_for(identity(10), DIRECTORY) is LAB
    assert team_for(identity(11), DIRECTORY) is OPS
    assert team_for(identity(12), DIRECTORY) is None  # in no team
    assert team_for(identity(10, team_id=3), DIRECTORY) is None  # a deleted team charges nobody


def test_model_allowed_by_name_or_alias_target():
    assert model_allowed(None, "anything")
    assert model_allowed(OPS, "anything")  # no list: every model
    assert model_allowed(LAB, "llama3") and model_allowed(LAB, "llama3:latest")
    assert model_allowed(LAB, "gpt-4o", "qwen3:8b")  # the alias is allowed
    assert model_allowed(LAB, "my-alias", "llama3")  # its target is allowed
    assert not model_allowed(LAB, "qwen3:8b") and not model_allowed(LAB, "mistral", "mistral:7b")


# --- Services ---------------------------------------------------------------------------------------


@pytest.fixture
def lab(people):
    team = services.create_team(people.staff, "Lab", "the ML lab", ["llama3"])
    services.add_member(people.staff, team, people.admin, Membership.Role.ADMIN)
    services.add_member(people.staff, team, people.member)
    return team


def actions():
    return list(AuditEvent.objects.exclude(action="auth.login").order_by("id").values_list("action", flat=True))


def test_only_staff_create_and_delete_teams(people):
    with pytest.raises(PermissionDenied):
        services.create_team(people.admin, "Mine")
    team = services.create_team(people.staff, "Lab", allowed_models=[" llama3 ", "llama3", ""])
    assert team.allowed_models == ["llama3"]
    with pytest.raises(ValidationError):
        services.create_team(people.staff, "lab")  # names are unique, whatever the case
    with pytest.raises(PermissionDenied):
        services.delete_team(people.admin, team)
    event = AuditEvent.objects.get(action="team.create")
    assert event.actor == people.staff and event.after["name"] == "Lab" and event.after["allowed_models"] == ["llama3"]


def test_first_team_is_the_default_and_removing_it_moves_the_default(people, lab):
    ops = services.create_team(people.staff, "Ops")
    second = services.add_member(people.staff, ops, people.member)
    assert Membership.objects.get(team=lab, user=people.member).is_default and not second.is_default
    assert load_directory().default_team[people.member.pk] == lab.pk

    services.set_default_team(people.member, people.member, ops)  # users choose their own default
    assert load_directory().default_team[people.member.pk] == ops.pk
    event = AuditEvent.objects.get(action="team.default_team")
    assert event.before == {"default_team": "Lab"} and event.after == {"default_team": "Ops"}

    services.remove_member(people.staff, Membership.objects.get(team=ops, user=people.member))
    assert Membership.objects.get(team=lab, user=people.member).is_default
    assert load_directory().default_team[people.member.pk] == lab.pk


def test_team_admins_manage_people_and_keys_but_not_models(people, lab):
    services.add_member(people.admin, lab, people.outsider)
    membership = Membership.objects.get(team=lab, user=people.outsider)
    services.set_role(people.admin, membership, Membership.Role.ADMIN)
    services.remove_member(people.admin, membership)
    with pytest.raises(PermissionDenied):
        services.update_team(people.admin, lab, allowed_models=["qwen3"])
    services.update_team(people.admin, lab, description="renamed by its admin")
    services.update_team(people.staff, lab, allowed_models=["qwen3", "llama3"])
    lab.refresh_from_db()
    assert lab.allowed_models == ["llama3", "qwen3"] and lab.description == "renamed by its admin"

    for who in (people.member, people.outsider):
        with pytest.raises(PermissionDenied):
            services.add_member(who, lab, people.outsider)
        with pytest.raises(PermissionDenied):
            services.issue_team_key(who, lab, "nope")
    first, second = AuditEvent.objects.filter(action="team.update").order_by("id")
    assert (first.actor, first.changes) == (people.admin, [("description", "the ML lab", "renamed by its admin")])
    assert (second.actor, second.changes) == (people.staff, [("allowed_models", ["llama3"], ["llama3", "qwen3"])])
    assert actions()[-5:] == ["team.member_add", "team.member_role", "team.member_remove", "team.update", "team.update"]
    assert AuditEvent.objects.filter(action="team.member_role", actor=people.admin).get().after["role"] == "admin"


def test_team_keys_carry_their_team_and_are_audited(transactional_db, people, lab):
    key, secret = services.issue_team_key(people.admin, lab, "ci bot", allowed_models=["llama3"])
    assert key.team == lab and key.user == people.admin and key.allowed_models == ["llama3"]
    event = AuditEvent.objects.get(action="key.create")
    assert event.after["team"] == lab.pk and secret not in str(event.after)

    key_cache.invalidate()
    ident = async_to_sync(key_cache.get)(key.prefix)
    assert ident.team_id == lab.pk
    team_directory.invalidate()
    directory = async_to_sync(team_directory.get)()
    assert team_for(ident, directory).name == "Lab"
    personal, _ = issue_key(people.member, "mine")
    assert team_for(async_to_sync(key_cache.get)(personal.prefix), directory).name == "Lab"

    assert services.revoke_team_key(people.admin, key) is True
    assert services.revoke_team_key(people.admin, key) is False
    with pytest.raises(ValidationError):
        services.revoke_team_key(people.staff, personal)


def test_deleting_a_team_deletes_its_keys_and_moves_defaults(people, lab):
    ops = services.create_team(people.staff, "Ops")
    services.add_member(people.staff, ops, people.member)
    key, _ = services.issue_team_key(people.admin, lab, "bot")
    services.delete_team(people.staff, lab)
    assert not ApiKey.objects.filter(pk=key.pk).exists()
    assert Membership.objects.get(user=people.member).team == ops
    assert Membership.objects.get(user=people.member).is_default
    event = AuditEvent.objects.get(action="team.delete")
    assert event.before["members"] == ["ann", "max"] and event.before["keys"] == [key.prefix]


def test_sso_sync_joins_named_teams_and_leaves_only_sso_memberships(people, lab):
    ops = services.create_team(people.staff, "Ops")
    services.sync_sso_teams(people.outsider, ["lab", "ops", "unknown"])
    assert set(Membership.objects.filter(user=people.outsider).values_list("team__name", "source")) == {
        ("Lab", "sso"),
        ("Ops", "sso"),
    }
    services.add_member(people.staff, ops, people.member)  # local membership
    services.sync_sso_teams(people.member, [])  # the provider names no team: local ones stay
    assert Membership.objects.filter(user=people.member).count() == 2
    services.sync_sso_teams(people.outsider, ["Ops"])
    assert list(Membership.objects.filter(user=people.outsider).values_list("team__name", flat=True)) == ["Ops"]
    assert Membership.objects.get(user=people.outsider).is_default
    assert AuditEvent.objects.filter(action="team.member_remove", source="sso").count() == 1


# --- A team key on the running gateway ---------------------------------------------------------------------


def test_a_team_key_works_on_the_api(gateway, fake_ollama, transactional_db):
    boss = User.objects.create_user("boss", is_staff=True)
    team = services.create_team(boss, "Lab")
    key, secret = services.issue_team_key(boss, team, "service")
    client = openai.OpenAI(base_url=gateway.url + "/v1/", api_key=secret, max_retries=0, timeout=20)
    chat = client.chat.completions.create(model="llama3", messages=[{"role": "user", "content": "hi"}])
    assert chat.choices[0].message.content
    services.revoke_team_key(boss, key)
    key_cache.invalidate()
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="llama3", messages=[{"role": "user", "content": "hi"}])


# --- Portal pages -------------------------------------------------------------------------------------------


def post(client, team, action, data=None, status=302):
    url = f"/teams/{team.pk}/"
    response = submit(client, f"/teams/{team.pk}/{action}/", data, page=url)
    assert response.status_code == status, response.content.decode()[:2000]
    return response


def test_team_admin_manages_members_and_keys_in_the_portal(people, lab, settings):
    settings.OLLAMA_HOST = "127.0.0.1:9"  # the model list is unknown: a text field for models
    ann = client_for(people.admin)
    html = ann.get("/teams/").content.decode()
    assert 'data-team="Lab"' in html and "team admin" in html and "Create a team" not in html
    html = ann.get(f"/teams/{lab.pk}/").content.decode()
    assert 'data-member="max"' in html and "Add a member" in html and "Create a team key" in html
    assert "Edit the team (staff)" not in html

    post(ann, lab, "add-member", {"username": "otto", "role": "member"})
    assert Membership.objects.filter(team=lab, user=people.outsider).exists()
    post(ann, lab, "add-member", {"username": "ghost", "role": "member"})
    assert "No user with that name." in ann.get(f"/teams/{lab.pk}/").content.decode()

    otto = Membership.objects.get(team=lab, user=people.outsider)
    post(ann, lab, "member-role", {"membership": otto.pk, "role": "admin"})
    assert Membership.objects.get(pk=otto.pk).role == "admin"
    post(ann, lab, "remove-member", {"membership": otto.pk})
    assert not Membership.objects.filter(pk=otto.pk).exists()

    response = post(ann, lab, "create-key", {"name": "ci bot", "other_models": "llama3"}, status=200)
    html = response.content.decode()
    secret = re.search(r'id="new-secret"[^>]*value="([^"]+)"', html).group(1)
    assert secret.startswith("sk-") and f"/teams/{lab.pk}/" in html
    key = ApiKey.objects.get(team=lab)
    assert key.allowed_models == ["llama3"] and key.user == people.admin
    assert f'data-prefix="{key.prefix}"' in ann.get(f"/teams/{lab.pk}/").content.decode()
    assert f'data-prefix="{key.prefix}"' not in ann.get("/keys/").content.decode()  # not a personal key
    post(ann, lab, "revoke-key", {"key": key.pk})
    assert ApiKey.objects.get(pk=key.pk).revoked

    assert actions()[-5:] == ["team.member_add", "team.member_role", "team.member_remove", "key.create", "key.revoke"]
    assert AuditEvent.objects.filter(actor=people.admin, source="portal").exclude(action="auth.login").count() == 5


def test_members_only_look_and_outsiders_see_nothing(people, lab):
    max_ = client_for(people.member)
    html = max_.get(f"/teams/{lab.pk}/").content.decode()
    assert 'data-member="ann"' in html and "Add a member" not in html and "Create a team key" not in html
    post(max_, lab, "add-member", {"username": "otto", "role": "admin"}, status=403)
    post(max_, lab, "create-key", {"name": "x"}, status=403)
    assert not Membership.objects.filter(user=people.outsider).exists()

    otto = client_for(people.outsider)
    assert otto.get(f"/teams/{lab.pk}/").status_code == 404
    post(otto, lab, "default", status=404)
    assert Client().get(f"/teams/{lab.pk}/").status_code == 302  # to the sign-in page


def test_a_member_chooses_their_default_team(people, lab):
    ops = services.create_team(people.staff, "Ops")
    services.add_member(people.staff, ops, people.member)
    max_ = client_for(people.member)
    html = max_.get("/teams/").content.decode()
    assert html.count("Make default") == 1
    post(max_, ops, "default")
    assert Membership.objects.get(user=people.member, is_default=True).team == ops


def test_staff_create_edit_and_delete_teams_in_the_portal(people):
    boss = client_for(people.staff)
    response = submit(boss, "/teams/", {"name": "Vision", "description": "", "allowed_models": "llava, llama3"})
    team = Team.objects.get(name="Vision")
    assert response.status_code == 302 and response.headers["location"] == f"/teams/{team.pk}/"
    assert team.allowed_models == ["llama3", "llava"]
    assert client_for(people.member).post("/teams/", {"name": "x"}).status_code == 403

    post(boss, team, "update", {"name": "Vision", "description": "cameras", "allowed_models": "llava"})
    team.refresh_from_db()
    assert team.allowed_models == ["llava"] and team.description == "cameras"
    assert "Edit the team (staff)" in boss.get(f"/teams/{team.pk}/").content.decode()
    post(boss, team, "delete")
    assert not Team.objects.filter(pk=team.pk).exists()
    assert actions()[-3:] == ["team.create", "team.update", "team.delete"]


def test_team_page_shows_usage_of_team_keys_and_default_members(people, lab):
    key, _ = services.issue_team_key(people.admin, lab, "bot")
    personal, _ = issue_key(people.member, "laptop")
    elsewhere, _ = issue_key(people.outsider, "other")
    today = timezone.localdate()
    rollup(
        people.admin, day=today, team=lab, key_prefix=key.prefix, prompt_tokens=100, completion_tokens=23, requests=2
    )
    rollup(people.member, day=today, team=lab, key_prefix=personal.prefix, prompt_tokens=1000, completion_tokens=0)
    rollup(people.outsider, day=today, key_prefix=elsewhere.prefix, prompt_tokens=5000, completion_tokens=0, requests=5)
    html = client_for(people.admin).get(f"/teams/{lab.pk}/").content.decode()
    today_card = html.split("team-today")[1].split("</div>")[0]
    assert "1,123" in today_card and "3 requests" in today_card
    keys_table = html.split('class="data team-keys"')[1].split("</table>")[0]
    assert "123" in keys_table
    members = html.split('class="data members"')[1].split("</table>")[0]
    assert "1,000" in members and "5,000" not in html


def test_teams_in_the_django_admin_go_through_the_services(people, lab):
    people.staff.is_superuser = True
    people.staff.save()
    boss = client_for(people.staff)
    assert boss.get("/admin/teams/team/").status_code == 200
    url = "/admin/teams/team/add/"
    data = {
        "csrfmiddlewaretoken": csrf(boss, url),
        "name": "Ops",
        "description": "",
        "allowed_models": '["llama3"]',
        "memberships-TOTAL_FORMS": "1",
        "memberships-INITIAL_FORMS": "0",
        "memberships-0-user": people.member.pk,
        "memberships-0-role": "admin",
    }
    response = boss.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    ops = Team.objects.get(name="Ops")
    membership = Membership.objects.get(team=ops)
    assert (membership.user, membership.role, membership.is_default) == (people.member, "admin", False)

    url = f"/admin/teams/team/{ops.pk}/change/"
    data = {
        "csrfmiddlewaretoken": csrf(boss, url),
        "name": "Ops",
        "description": "on call",
        "allowed_models": '["llama3"]',
        "memberships-TOTAL_FORMS": "1",
        "memberships-INITIAL_FORMS": "1",
        "memberships-0-id": membership.pk,
        "memberships-0-team": ops.pk,
        "memberships-0-user": people.member.pk,
        "memberships-0-role": "member",
    }
    assert boss.post(url, data).status_code == 302
    assert Membership.objects.get(pk=membership.pk).role == "member"
    data.update({"csrfmiddlewaretoken": csrf(boss, url), "memberships-0-DELETE": "on"})
    assert boss.post(url, data).status_code == 302
    assert not Membership.objects.filter(team=ops).exists()
    url = f"/admin/teams/team/{ops.pk}/delete/"
    submit(boss, url, {"post": "yes"})
    assert not Team.objects.filter(pk=ops.pk).exists()
    assert actions()[-6:] == [
        "team.create",
        "team.member_add",
        "team.update",
        "team.member_role",
        "team.member_remove",
        "team.delete",
    ]
    assert AuditEvent.objects.filter(action="team.update").last().source == "admin"


def test_a_team_key_outlives_its_creators_deactivation(transactional_db, people, lab):
    team_key, _ = services.issue_team_key(people.admin, lab, "service")
    personal, _ = issue_key(people.admin, "mine")
    people.admin.is_active = False
    people.admin.save()
    key_cache.invalidate()
    assert async_to_sync(key_cache.get)(team_key.prefix).usable
    assert not async_to_sync(key_cache.get)(personal.prefix).usable


def test_the_charged_teams_models_are_enforced_on_the_api(gateway, fake_ollama, transactional_db):
    boss = User.objects.create_user("boss", is_staff=True)
    alice = User.objects.create_user("alice")
    ModelAlias.objects.create(name="gpt-4o", target="llama3")
    lab = services.create_team(boss, "Lab", allowed_models=["llama3"])
    ops = services.create_team(boss, "Ops", allowed_models=["all-minilm"])
    services.add_member(boss, lab, alice)  # her default team
    services.add_member(boss, ops, alice)
    _, personal = issue_key(alice, "laptop")
    _, ops_key = services.issue_team_key(boss, ops, "embedder")

    def client(secret):
        return openai.OpenAI(base_url=gateway.url + "/v1/", api_key=secret, max_retries=0, timeout=20)

    hi = [{"role": "user", "content": "hi"}]
    assert client(personal).chat.completions.create(model="llama3", messages=hi).choices
    assert client(personal).chat.completions.create(model="gpt-4o", messages=hi).choices  # an alias of llama3
    with pytest.raises(
        openai.PermissionDeniedError, match="Your team Lab is not allowed to use the model 'all-minilm'"
    ):
        client(personal).embeddings.create(model="all-minilm", input="x")
    assert client(ops_key).embeddings.create(model="all-minilm", input="x").data  # the key's team: Ops
    with pytest.raises(openai.PermissionDeniedError, match="Your team Ops"):
        client(ops_key).chat.completions.create(model="llama3", messages=hi)

    services.set_default_team(alice, alice, ops)  # her personal key is now charged to Ops
    with pytest.raises(openai.PermissionDeniedError, match="Your team Ops"):
        client(personal).chat.completions.create(model="llama3", messages=hi)


def test_team_usage_csv_for_team_admins(people, lab):
    key, _ = services.issue_team_key(people.admin, lab, "bot")
    day = timezone.localdate()
    rollup(people.admin, day=day, team=lab, key_prefix=key.prefix, requests=2, prompt_tokens=10, completion_tokens=5,
           gpu_ms=1500)  # fmt: skip
    response = client_for(people.admin).get(f"/teams/{lab.pk}/usage.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    lines = response.content.decode().splitlines()
    assert lines[0].startswith("day,user,key_prefix,team_key,model")
    assert lines[1] == f"{day.isoformat()},ann,{key.prefix},True,llama3,2,10,5,15,1.5,0"
    assert client_for(people.member).get(f"/teams/{lab.pk}/usage.csv").status_code == 403
    assert client_for(people.outsider).get(f"/teams/{lab.pk}/usage.csv").status_code == 404


def test_team_command(people):
    import io

    from django.core.management import call_command

    def run(*args):
        out = io.StringIO()
        call_command("team", *args, stdout=out)
        return out.getvalue()

    run("Lab", "--create", "--models", "llama3,gpt-4o", "--add", "ann:admin", "--add", "max")
    team = Team.objects.get(name="Lab")
    assert team.allowed_models == ["gpt-4o", "llama3"]
    assert set(team.memberships.values_list("user__username", "role")) == {("ann", "admin"), ("max", "member")}
    assert "Lab\tgpt-4o, llama3\tann (admin), max" in run("--list")
    run("lab", "--remove", "max", "--all-models")
    team.refresh_from_db()
    assert team.allowed_models == [] and team.memberships.count() == 1
    run("Lab", "--delete")
    assert not Team.objects.exists()
    events = AuditEvent.objects.filter(source="command").values_list("action", flat=True)
    assert sorted(set(events)) == ["team.create", "team.delete", "team.member_add", "team.member_remove", "team.update"]


def test_the_directory_is_loaded_once_for_concurrent_requests_and_kept_through_an_outage(
    transactional_db, people, lab, settings, monkeypatch
):
    import asyncio

    from django.db import OperationalError

    from ollamaweb.teams import policy

    loads, down = [], []
    real = policy.load_directory

    def counting():
        loads.append(1)
        if down:
            raise OperationalError("the database is down")
        return real()

    counting.__name__ = "load_directory"
    monkeypatch.setattr(policy, "load_directory", counting)
    settings.CONFIG_CACHE_TTL = 60
    cache = policy.TeamDirectoryCache()

    async def scenario():
        first = await asyncio.gather(*(cache.get() for _ in range(20)))
        assert len(loads) == 1 and all(d is first[0] for d in first)
        assert await cache.get() is first[0] and len(loads) == 1  # fresh: no query
        cache.invalidate()  # a change in this process: the next request reads again
        second = await cache.get()
        assert len(loads) == 2 and second is not first[0]
        down.append(True)
        cache.invalidate()
        assert await cache.get() is second  # the database is down: the last copy is kept
        return second

    assert asyncio.run(scenario()).teams[lab.pk].name == "Lab"


def test_team_key_models_from_the_catalog_checkboxes(people, lab, settings, fake_ollama):
    from django.core.cache import cache

    cache.clear()
    settings.OLLAMA_HOST = fake_ollama.url
    ann = client_for(people.admin)
    html = ann.get(f"/teams/{lab.pk}/").content.decode()
    assert 'value="llama3:latest"' in html  # the backend's models as checkboxes
    post(ann, lab, "create-key", {"name": "bot", "models": ["llama3:latest"], "other_models": "gpt-4o"}, status=200)
    assert ApiKey.objects.get(team=lab).allowed_models == ["gpt-4o", "llama3:latest"]
    cache.clear()


def test_the_model_list_shows_only_the_teams_models(gateway, fake_ollama, transactional_db):
    boss = User.objects.create_user("boss", is_staff=True)
    ModelAlias.objects.create(name="gpt-4o", target="llama3")
    ModelAlias.objects.create(name="embedder", target="all-minilm")
    lab = services.create_team(boss, "Lab", allowed_models=["llama3"])
    _, secret = services.issue_team_key(boss, lab, "bot")
    _, personal = issue_key(boss, "mine")  # boss is in no team: everything
    listed = openai.OpenAI(base_url=gateway.url + "/v1/", api_key=secret, max_retries=0, timeout=20).models.list()
    assert sorted(m.id for m in listed.data) == ["gpt-4o", "llama3:latest"]
    everything = openai.OpenAI(base_url=gateway.url + "/v1/", api_key=personal, max_retries=0, timeout=20)
    assert sorted(m.id for m in everything.models.list().data) == [
        "all-minilm:latest",
        "embedder",
        "gpt-4o",
        "llama3:latest",
    ]


def test_usage_by_team_in_csv_and_the_command(people, lab):
    import io

    from django.core.management import call_command

    ops = services.create_team(people.staff, "Ops")
    key, _ = services.issue_team_key(people.staff, ops, "bot")
    personal, _ = issue_key(people.member, "laptop")  # max's default team is Lab
    today = timezone.localdate()
    for user, team, prefix, tokens in ((people.staff, ops, key.prefix, 100), (people.member, lab, personal.prefix, 7)):
        rollup(user, day=today, team=team, key_prefix=prefix, prompt_tokens=tokens, completion_tokens=0)
    response = client_for(people.staff).get("/teams/usage.csv")
    assert response.status_code == 200
    assert response.content.decode().splitlines() == [
        "team,model,requests,prompt_tokens,completion_tokens,total_tokens,gpu_seconds,errors",
        "Lab,llama3,1,7,0,7,0.0,0",
        "Ops,llama3,1,100,0,100,0.0,0",
    ]
    assert client_for(people.admin).get("/teams/usage.csv").status_code == 403
    out = io.StringIO()
    call_command("usage", "--by", "team", "--format", "csv", "--since", today.isoformat(), stdout=out)
    assert out.getvalue().splitlines()[1:] == ["Lab,llama3,1,7,0,7,0.0,0", "Ops,llama3,1,100,0,100,0.0,0"]
