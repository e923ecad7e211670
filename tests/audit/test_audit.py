"""The audit log: immutable rows, no secrets, one row for each staff action, sign-in and failed
sign-in (admin, portal and command line), and the staff page with its filters."""

import io
import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from ollamaweb.audit.models import AuditEvent, ImmutableError
from ollamaweb.audit.scrub import REDACTED, scrub
from ollamaweb.audit.services import record, snapshot
from ollamaweb.backends.models import Backend
from ollamaweb.catalog.models import ModelAlias
from ollamaweb.keys.models import ApiKey
from ollamaweb.keys.services import issue_key
from ollamaweb.quotas.models import QuotaPolicy
from tests.portal.helpers import signed_in_http, submit

User = get_user_model()
SECRET_HEADER = "Bearer very-secret-proxy-token"


def only(action, **filters) -> AuditEvent:
    events = list(AuditEvent.objects.filter(action=action, **filters))
    assert len(events) == 1, (action, [str(e) for e in AuditEvent.objects.all()])
    return events[0]


def dumped(event: AuditEvent) -> str:
    return json.dumps([event.before, event.after, event.target_repr, event.actor_name])


@pytest.fixture
def admin_client(superuser):
    client = Client(REMOTE_ADDR="10.1.2.3")
    client.force_login(superuser)
    return client


# --- Pure parts ---------------------------------------------------------------------------------


def test_scrub_removes_secrets_keeps_the_rest():
    value = {
        "name": "gpu1",
        "hashed_key": "abc123",
        "password": "pbkdf2$...",
        "client_secret": "x",
        "token_hash": "deadbeef",
        "headers": {"Authorization": "Bearer s", "X-Tenant": "lab"},
        "nested": [
            {"access_token": "t0k3n", "api_key": "sk-1234567890abcdefghij"},
            "see sk-abcdefghijklmnopqrstuvwx here",
        ],
        "tokens_per_day": 1000,
        "max_tokens": 10,
        "empty_secret": "",
    }
    clean = scrub(value)
    assert clean["name"] == "gpu1" and clean["max_tokens"] == 10
    for name in ("hashed_key", "password", "client_secret", "token_hash"):
        assert clean[name] == REDACTED
    assert clean["headers"] == {"Authorization": REDACTED, "X-Tenant": REDACTED}
    assert clean["nested"][0] == {"access_token": REDACTED, "api_key": f"sk-{REDACTED}"}
    assert clean["tokens_per_day"] == 1000
    assert clean["nested"][1] == f"see sk-{REDACTED} here"
    assert clean["empty_secret"] == ""
    assert value["hashed_key"] == "abc123"  # the input is not changed


def test_rows_are_immutable(db, superuser):
    event = record(superuser, "test.thing", "something", after={"a": 1})
    with pytest.raises(ImmutableError):
        event.save()
    with pytest.raises(ImmutableError):
        event.delete()
    with pytest.raises(ImmutableError):
        AuditEvent.objects.filter(pk=event.pk).update(action="other")
    with pytest.raises(ImmutableError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "test.thing"


def test_a_deleted_actor_keeps_their_name_on_the_row(db):
    user = User.objects.create_user("temp")
    event = record(user, "test.thing", "x")
    user.delete()
    event = AuditEvent.objects.get(pk=event.pk)
    assert event.actor is None and event.actor_name == "temp"


# --- Sign-ins -------------------------------------------------------------------------------------


def test_sign_in_and_failed_sign_in_are_recorded_without_the_password(db):
    User.objects.create_user("alice", password="pw-alice-123")
    client = Client(REMOTE_ADDR="192.0.2.7", HTTP_USER_AGENT="pytest-browser")
    response = client.post("/accounts/login/", {"username": "alice", "password": "wrong-password-9"})
    assert response.status_code == 200
    failed = only("auth.login_failed")
    assert failed.ip == "192.0.2.7" and failed.target_repr == "alice" and failed.actor is None
    assert "wrong-password-9" not in dumped(failed)

    client.post("/accounts/login/", {"username": "nobody", "password": "x"})
    assert AuditEvent.objects.filter(action="auth.login_failed", target_repr="nobody").count() == 1

    response = client.post("/accounts/login/", {"username": "alice", "password": "pw-alice-123"})
    assert response.status_code == 302
    login = only("auth.login")
    assert login.actor.username == "alice" and login.ip == "192.0.2.7" and login.user_agent == "pytest-browser"
    assert login.source == "portal"

    Client(REMOTE_ADDR="192.0.2.8").post("/admin/login/", {"username": "alice", "password": "bad"})
    assert AuditEvent.objects.filter(action="auth.login_failed", ip="192.0.2.8", source="admin").count() == 1


# --- Admin actions ---------------------------------------------------------------------------------


def test_admin_key_create_revoke_delete(admin_client, superuser):
    owner = User.objects.create_user("alice")
    url = "/admin/keys/apikey/add/"
    response = submit(admin_client, url, {"user": owner.pk, "name": "ci", "allowed_models": "[]"})
    assert response.status_code == 302, response.content.decode()[:2000]
    key = ApiKey.objects.get(name="ci")
    created = only("key.create")
    assert created.actor == superuser and created.ip == "10.1.2.3" and created.source == "admin"
    assert created.target_id == str(key.pk) and created.after["prefix"] == key.prefix
    assert created.after["hashed_key"] == REDACTED and key.hashed_key not in dumped(created)

    submit(admin_client, "/admin/keys/apikey/", {"action": "revoke_keys", "_selected_action": [key.pk]})
    revoked = only("key.revoke")
    assert revoked.before["revoked"] is False and revoked.after["revoked"] is True

    url = f"/admin/keys/apikey/{key.pk}/delete/"
    submit(admin_client, url, {"post": "yes"})
    assert not ApiKey.objects.filter(pk=key.pk).exists()
    deleted = only("key.delete")
    assert deleted.before["prefix"] == key.prefix and deleted.target_id == str(key.pk)


def test_admin_user_activate_deactivate(admin_client, superuser):
    bob = User.objects.create_user("bob", is_active=False)
    changelist = "/admin/auth/user/"
    submit(admin_client, changelist, {"action": "activate_users", "_selected_action": [bob.pk]})
    assert only("user.activate").target_repr == "bob"
    submit(admin_client, changelist, {"action": "deactivate_users", "_selected_action": [bob.pk]})
    event = only("user.deactivate")
    assert event.before == {"is_active": True} and event.after == {"is_active": False}


def test_admin_alias_and_quota_changes_with_before_and_after(admin_client):
    url = "/admin/catalog/modelalias/add/"
    submit(admin_client, url, {"name": "gpt-4o", "target": "llama3"})
    alias = ModelAlias.objects.get(name="gpt-4o")
    assert only("alias.create").after["target"] == "llama3"
    url = f"/admin/catalog/modelalias/{alias.pk}/change/"
    submit(admin_client, url, {"name": "gpt-4o", "target": "qwen3:8b"})
    event = only("alias.update")
    assert (event.before["target"], event.after["target"]) == ("llama3", "qwen3:8b")
    assert [c for c in event.changes] == [("target", "llama3", "qwen3:8b")]

    url = "/admin/quotas/quotapolicy/add/"
    submit(admin_client, url, {"model": "", "tokens_per_day": "1000"})
    policy = QuotaPolicy.objects.get()
    assert only("quota.create").after["tokens_per_day"] == 1000
    url = f"/admin/quotas/quotapolicy/{policy.pk}/change/"
    submit(admin_client, url, {"model": "", "tokens_per_day": "2000"})
    assert only("quota.update").changes == [("tokens_per_day", 1000, 2000)]


def test_admin_backend_changes_never_store_header_values(admin_client):
    url = "/admin/backends/backend/add/"
    response = submit(
        admin_client,
        url,
        {
            "name": "gpu1",
            "url": "http://gpu1:11434",
            "enabled": "on",
            "weight": "1",
            "headers": json.dumps({"Authorization": SECRET_HEADER}),
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Backend.objects.get().headers == {"Authorization": SECRET_HEADER}
    event = only("backend.create")
    assert event.after["headers"] == {"Authorization": REDACTED} and event.after["url"] == "http://gpu1:11434"
    assert "very-secret" not in dumped(event) and "is_up" not in event.after


# --- Commands ------------------------------------------------------------------------------------------


def run(*args):
    call_command(*args, stdout=io.StringIO(), stderr=io.StringIO())


def test_commands_are_recorded(db):
    run("createapikey", "carol", "--name", "cli")
    key = ApiKey.objects.get(name="cli")
    event = only("key.create")
    assert event.source == "command" and event.actor_name == "command line" and event.target_id == str(key.pk)
    run("revokeapikey", key.prefix)
    assert only("key.revoke").after["revoked"] is True
    run("alias", "gpt-4o", "llama3")
    run("alias", "gpt-4o", "qwen3")
    run("alias", "--delete", "gpt-4o")
    assert only("alias.create").after["target"] == "llama3"
    assert only("alias.update").changes == [("target", "llama3", "qwen3")]
    assert only("alias.delete").before["target"] == "qwen3"
    run("alias", "--claude-default", "llama3", "--pending")
    assert only("alias.claude_default").after == {"claude_default_target": "llama3"}
    run("setquota", "carol", "--tokens-per-day", "500")
    assert only("quota.create").after["tokens_per_day"] == 500
    run("setquota", "carol", "--tokens-per-day", "500")  # no change, no row
    assert AuditEvent.objects.filter(action__startswith="quota.").count() == 1
    run("backends", "--add", "gpu1", "http://gpu1:11434", "--header", f"Authorization: {SECRET_HEADER}")
    event = only("backend.create")
    assert event.after["headers"] == {"Authorization": REDACTED} and "very-secret" not in dumped(event)
    run("backends", "--remove", "gpu1")
    assert only("backend.delete").before["name"] == "gpu1"


def test_model_commands_are_recorded(db, settings, fake_ollama):
    settings.OLLAMA_HOST = fake_ollama.url
    backend = fake_ollama.url.removeprefix("http://")
    run("pull", "qwen3:8b")
    assert only("model.pull").after == {"backend": backend, "ok": True, "error": ""}
    run("copymodel", "llama3", "my-llama")
    assert only("model.copy").after["destination"] == "my-llama"
    run("deletemodel", "my-llama", "--yes")
    event = only("model.delete")
    assert event.target_repr == "my-llama" and event.after["ok"] is True


# --- Admin model management (the running server) ---------------------------------------------------------


def test_admin_model_pull_copy_delete_are_recorded(gateway, fake_ollama, transactional_db):
    staff = User.objects.create_superuser("boss", email="boss@example.com")
    backend = fake_ollama.url.removeprefix("http://")
    with signed_in_http(staff, gateway) as http:
        submit(http, "/admin/backends/backend/pull/", {"model": "qwen3:8b", "backend": backend})
        pull = only("model.pull")
        assert pull.actor == staff and pull.target_repr == "qwen3:8b" and pull.after["backends"] == [backend]
        assert pull.ip == "127.0.0.1" and pull.source == "admin"

        url = "/admin/backends/backend/copy/"
        submit(http, url, {"source": "llama3", "destination": "gpt-4o", "mode": "alias"})
        assert only("alias.create").after == {"name": "gpt-4o", "target": "llama3", "description": ""}
        submit(http, url, {"source": "llama3", "destination": "my-llama", "mode": "copy", "backend": backend})
        assert only("model.copy").after["ok"] is True

        url = "/admin/backends/backend/delete-model/"
        submit(http, url, {"model": "my-llama", "backend": backend, "confirm": "yes", "targets": backend})
        event = only("model.delete")
        assert event.target_repr == "my-llama" and event.after == {"backend": backend, "ok": True, "error": ""}


# --- Portal -------------------------------------------------------------------------------------------------


def test_portal_key_actions_are_recorded(db):
    user = User.objects.create_user("alice", password="pw-alice-123")
    client = Client()
    client.force_login(user)
    response = submit(client, "/keys/", {"name": "laptop"}, follow=True)
    secret = re.search(r'id="new-secret"[^>]*value="([^"]+)"', response.content.decode()).group(1)
    key = ApiKey.objects.get(name="laptop")
    event = only("key.create")
    assert event.actor == user and event.source == "portal" and secret not in dumped(event)
    submit(client, f"/keys/{key.pk}/revoke/", page="/keys/")
    assert only("key.revoke").actor == user


def test_audit_page_is_for_staff_with_filters(db, admin_client, superuser):
    alice = User.objects.create_user("alice", password="pw-alice-123")
    record(
        superuser,
        "key.revoke",
        ("keys.apikey", "1", "sk-abc… (ci)"),
        before={"revoked": False},
        after={"revoked": True},
    )
    record(superuser, "alias.create", ("catalog.modelalias", "2", "gpt-4o → llama3"), after={"target": "llama3"})
    record(alice, "key.create", ("keys.apikey", "3", "sk-def… (laptop)"))

    member = Client()
    member.force_login(alice)
    assert member.get("/staff/audit/").status_code == 403
    assert Client().get("/staff/audit/").status_code == 302

    html = admin_client.get("/staff/audit/").content.decode()
    assert 'data-action="key.revoke"' in html and 'data-action="alias.create"' in html
    assert "<del>False</del> → True" in html

    html = admin_client.get("/staff/audit/", {"action": "key."}).content.decode()
    assert 'data-action="key.revoke"' in html and 'data-action="key.create"' in html
    assert 'data-action="alias.create"' not in html
    html = admin_client.get("/staff/audit/", {"actor": "alice"}).content.decode()
    assert html.count('data-action="key.create"') == 1 and 'data-action="key.revoke"' not in html
    html = admin_client.get("/staff/audit/", {"target": "gpt-4o"}).content.decode()
    assert 'data-action="alias.create"' in html and "key.revoke" not in html.split("<tbody>")[1]


def test_admin_audit_pages_are_read_only(admin_client, superuser):
    event = record(superuser, "test.thing", "x")
    assert admin_client.get("/admin/audit/auditevent/").status_code == 200
    assert admin_client.get(f"/admin/audit/auditevent/{event.pk}/change/").status_code == 200
    assert admin_client.get("/admin/audit/auditevent/add/").status_code == 403
    assert admin_client.get(f"/admin/audit/auditevent/{event.pk}/delete/").status_code == 403


def test_snapshot_is_json_and_scrubbed(db):
    user = User.objects.create_user("dave")
    key, secret = issue_key(user, "x")
    data = snapshot(key)
    json.dumps(data)
    assert data["hashed_key"] == REDACTED and data["user"] == user.pk and secret not in json.dumps(data)


def test_manage_models_scope_and_ollama_keys_are_recorded(admin_client, superuser, tmp_path):
    from ollamaweb.keys import services as key_services
    from tests.ollama_cli import make_ollama_home

    alice = User.objects.create_user("alice")
    key, _ = issue_key(alice, "laptop")
    changelist = "/admin/keys/apikey/"
    submit(admin_client, changelist, {"action": "grant_manage_models", "_selected_action": [key.pk]})
    event = only("key.manage_models_grant")
    assert event.actor == superuser and event.ip == "10.1.2.3" and event.after == {"can_manage_models": True}
    key_services.grant_manage_models(key, superuser)  # no change, no row
    assert AuditEvent.objects.filter(action__startswith="key.manage_models").count() == 1

    public = key_services.register_ollama_key(alice, key, make_ollama_home(tmp_path).read_text())
    assert only("ollama_key.register").after["fingerprint"] == public.fingerprint
    key_services.remove_ollama_key(alice, public.pk)
    assert only("ollama_key.delete").actor == alice
