"""The operator's management commands: createapikey, revokeapikey, alias, usage, ensureadmin."""

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone

from ollamaweb.catalog.models import ModelAlias
from ollamaweb.keys import hashing
from ollamaweb.keys.models import ApiKey
from ollamaweb.usage.models import RequestLog
from ollamaweb.usage.records import UsageRecord
from ollamaweb.usage.writer import write_batch

User = get_user_model()


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


# --- createapikey ------------------------------------------------------------------------------


def test_createapikey_creates_the_user_and_prints_the_key_last(db):
    output = run("createapikey", "bob")

    lines = output.strip().splitlines()
    secret = lines[-1]
    assert secret.startswith("sk-") and " " not in secret and len(secret) > 40
    assert "Created user bob." in lines
    assert "shown only once" in output
    bob = User.objects.get(username="bob")
    assert not bob.has_usable_password()
    key = ApiKey.objects.get(user=bob)
    assert key.prefix == secret[:12]
    assert hashing.matches(secret, key.hashed_key)
    assert (key.name, key.expires_at, key.allowed_models, key.revoked) == ("", None, [], False)
    assert secret not in (key.hashed_key, key.name)


def test_createapikey_options(db):
    User.objects.create_user("carol")
    before = timezone.now()

    output = run("createapikey", "carol", "--name", "laptop", "--expires-days", "7", "--models", "llama3, gpt-4o ,")

    assert "Created user" not in output
    secret = output.strip().splitlines()[-1]
    key = ApiKey.objects.get(prefix=secret[:12])
    assert key.user.username == "carol" and key.name == "laptop"
    assert before + timedelta(days=7) <= key.expires_at <= timezone.now() + timedelta(days=7)
    assert key.allowed_models == ["llama3", "gpt-4o"]
    assert key.prefix in output.splitlines()[-2]  # the line before the key names its prefix

    second = run("createapikey", "carol").strip().splitlines()[-1]
    assert second != secret and ApiKey.objects.filter(user__username="carol").count() == 2

    with pytest.raises(CommandError):
        run("createapikey", "carol", "--expires-days", "0")


def test_created_key_works_and_revokeapikey_stops_it(gateway, fake_ollama):
    secret = run("createapikey", "dave", "--models", "llama3").strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {secret}"}

    models = httpx.get(gateway.url + "/v1/models", headers=headers).json()
    assert [entry["id"] for entry in models["data"]] == ["llama3:latest"]

    output = run("revokeapikey", secret[:12])
    assert output.strip() == f"Revoked key {secret[:12]} of dave."
    key = ApiKey.objects.get(prefix=secret[:12])
    assert key.revoked and key.revoked_at is not None
    response = httpx.get(gateway.url + "/v1/models", headers=headers)
    assert response.status_code == 401 and "revoked" in response.json()["error"]["message"]

    assert "already revoked" in run("revokeapikey", secret)  # the whole key works as the prefix too


def test_revokeapikey_errors(db):
    with pytest.raises(CommandError, match="at least"):
        run("revokeapikey", "sk-abc")
    with pytest.raises(CommandError, match="No API key"):
        run("revokeapikey", "sk-doesnotexist")


# --- alias -------------------------------------------------------------------------------------


def test_alias_set_list_update_delete(db):
    assert run("alias", "gpt-3.5-turbo", "llama3").strip() == "gpt-3.5-turbo → llama3"
    run("alias", "gpt-4o", "qwen3:8b")
    assert dict(ModelAlias.objects.values_list("name", "target")) == {"gpt-3.5-turbo": "llama3", "gpt-4o": "qwen3:8b"}
    assert run("alias", "--list").splitlines() == ["gpt-3.5-turbo\tllama3", "gpt-4o\tqwen3:8b"]

    run("alias", "gpt-4o", "llama3:70b")  # setting again updates
    assert ModelAlias.objects.get(name="gpt-4o").target == "llama3:70b"
    assert ModelAlias.objects.count() == 2

    assert run("alias", "--delete", "gpt-4o").strip() == "Deleted alias gpt-4o."
    assert run("alias", "--list").splitlines() == ["gpt-3.5-turbo\tllama3"]

    with pytest.raises(CommandError):
        run("alias", "--delete", "gpt-4o")
    with pytest.raises(CommandError):
        run("alias", "same", "same")
    with pytest.raises(CommandError):
        run("alias", "only-a-name")


# --- usage -------------------------------------------------------------------------------------


@pytest.fixture
def usage_logs(transactional_db):
    """Finished requests written the way the gateway writes them (log rows and usage rollups).

    transactional_db: write_batch() closes its connection when done, as the writer thread must.
    """
    alice, bob = User.objects.create_user("alice"), User.objects.create_user("bob")
    now = datetime.now(UTC)
    old = now - timedelta(days=10)

    def record(user, model, status, prompt, completion, when=now, gpu_seconds=0.0):
        usage = UsageRecord(
            endpoint="chat.completions",
            created_at=when,
            user_id=user.pk if user else None,
            key_prefix="sk-abcdefghi",
            requested_model=model,
        )
        usage.add_usage(prompt, completion)
        usage.add_durations({"total_duration": int(gpu_seconds * 1e9)})
        usage.finish(status, "" if status < 400 else "failed")
        return usage

    write_batch(
        [
            record(alice, "llama3", 200, 10, 5, gpu_seconds=1.5),
            record(alice, "llama3", 200, 20, 7, gpu_seconds=2.25),
            record(alice, "llama3", 500, 0, 0),
            record(alice, "all-minilm", 200, 8, 0),
            record(bob, "llama3", 200, 3, 4, when=old),
            record(bob, "llama3", 429, 0, 0),
            record(None, "", 401, 0, 0),  # no key, no user: logged, but in nobody's usage
        ]
    )
    assert RequestLog.objects.count() == 7
    return timezone.localdate()


ALICE_LLAMA3 = {
    "user": "alice",
    "team": "",
    "model": "llama3",
    "requests": 3,
    "prompt_tokens": 30,
    "completion_tokens": 12,
    "total_tokens": 42,
    "gpu_seconds": 3.75,
    "errors": 1,
}
ALICE_MINILM = {
    "user": "alice",
    "team": "",
    "model": "all-minilm",
    "requests": 1,
    "prompt_tokens": 8,
    "completion_tokens": 0,
    "total_tokens": 8,
    "gpu_seconds": 0.0,
    "errors": 0,
}


def test_usage_json(usage_logs):
    rows = json.loads(run("usage", "--format", "json"))
    assert {(row["user"], row["model"]): row for row in rows} == {
        ("alice", "all-minilm"): ALICE_MINILM,
        ("alice", "llama3"): ALICE_LLAMA3,
        ("bob", "llama3"): {
            "user": "bob",
            "team": "",
            "model": "llama3",
            "requests": 2,
            "prompt_tokens": 3,
            "completion_tokens": 4,
            "total_tokens": 7,
            "gpu_seconds": 0.0,
            "errors": 1,
        },
    }
    assert all(list(row) == list(ALICE_LLAMA3) for row in rows)  # the documented keys, in order


def test_usage_filters(usage_logs):
    today = usage_logs
    assert json.loads(run("usage", "--format", "json", "--user", "alice")) == [ALICE_MINILM, ALICE_LLAMA3]
    recent = json.loads(run("usage", "--format", "json", "--user", "bob", "--since", str(today - timedelta(days=1))))
    assert recent == [
        {
            "user": "bob",
            "team": "",
            "model": "llama3",
            "requests": 1,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "total_tokens": 0,
            "gpu_seconds": 0.0,
            "errors": 1,
        }
    ]
    assert json.loads(run("usage", "--format", "json", "--user", "nobody")) == []
    with pytest.raises(CommandError):
        run("usage", "--since", "last tuesday")


def test_usage_csv(usage_logs):
    rows = list(csv.DictReader(io.StringIO(run("usage", "--format", "csv", "--user", "alice"))))
    assert rows == [{name: str(value) for name, value in row.items()} for row in (ALICE_MINILM, ALICE_LLAMA3)]


def test_usage_table(usage_logs):
    lines = run("usage", "--user", "alice").splitlines()
    assert len(lines) == 4
    # The dashes under the header give each column's position; every cell sits in its column.
    columns = [match.span() for match in re.finditer(r"-+", lines[1])]
    assert len(columns) == 9 and set(lines[1].replace(" ", "")) == {"-"}

    def cells(line):
        return [line[start:end].strip() for start, end in columns]

    assert cells(lines[0]) == list(ALICE_LLAMA3)
    assert cells(lines[2]) == ["alice", "", "all-minilm", "1", "8", "0", "8", "0.0", "0"]
    assert cells(lines[3]) == ["alice", "", "llama3", "3", "30", "12", "42", "3.75", "1"]


# --- ensureadmin -------------------------------------------------------------------------------


def test_ensureadmin_creates_one_admin_once(db):
    output = run("ensureadmin", "--url", "http://gateway.example:8000/")
    password = output.split("with password: ", 1)[1].split()[0]
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    assert admin.check_password(password)
    assert (
        "Sign in to the portal at http://gateway.example:8000/ (admin: http://gateway.example:8000/admin/) as 'admin'"
        in output
    )

    again = run("ensureadmin")
    assert "password" not in again.split("Forgot the password?")[0]
    assert password not in again
    assert "Sign in to the portal at http://127.0.0.1:8000/ (admin: http://127.0.0.1:8000/admin/) as 'admin'" in again
    assert User.objects.filter(is_superuser=True).count() == 1


def test_ensureadmin_keeps_an_existing_superuser(db):
    User.objects.create_superuser("root", password="x" * 16)
    output = run("ensureadmin", "--username", "admin")
    assert "as 'root'" in output
    assert not User.objects.filter(username="admin").exists()


def test_ensureadmin_refuses_to_take_over_a_plain_user_of_that_name(db):
    """An API-only user called `admin` (say from `createapikey admin`) is not silently made a superuser."""
    run("createapikey", "admin")
    with pytest.raises(CommandError, match="createsuperuser"):
        run("ensureadmin")
    plain = User.objects.get(username="admin")
    assert not plain.is_superuser and not plain.is_staff and not plain.has_usable_password()
    assert "as 'admin2'" in run("ensureadmin", "--username", "admin2")
