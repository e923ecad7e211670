"""The Ollama CLI's signatures (OLLAMA_AUTH=1): parsing keys, verifying, freshness, replays, scope."""

import asyncio
import shutil
import subprocess
import time

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import override_settings

from ollamaweb.core.errors import AuthenticationFailed
from ollamaweb.keys import services, signatures
from ollamaweb.keys.cache import key_cache
from ollamaweb.keys.models import OllamaPublicKey
from tests.ollama_cli import make_ollama_home, sign, signed_headers

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_caches(fresh_signatures):
    key_cache.invalidate()


@pytest.fixture
def alice():
    return get_user_model().objects.create_user("alice", password="pw-alice-123")


@pytest.fixture
def registered(alice, ollama_home):
    key, _ = services.issue_key(alice, "laptop", allowed_models=["llama3"])
    public = services.register_ollama_key(alice, key, (ollama_home / ".ollama" / "id_ed25519.pub").read_text())
    return key, public


def authenticate(ollama_home, method, path, now=None, sign_path=None, sign_method=None, header=None):
    now = int(time.time()) if now is None else now
    params, headers = signed_headers(ollama_home, sign_method or method, sign_path or path, now)
    return asyncio.run(signatures.authenticate(method, path, list(params.items()), header or headers["Authorization"]))


# -- keys ------------------------------------------------------------------------------------


def test_parse_public_key_reads_the_pub_file_line(ollama_home):
    line = (ollama_home / ".ollama" / "id_ed25519.pub").read_text()
    blob, comment = signatures.parse_public_key(line + " ")
    assert line.split()[1] == blob and comment == ""
    assert signatures.parse_public_key(f"ssh-ed25519 {blob} me@laptop") == (blob, "me@laptop")
    assert signatures.parse_public_key(blob) == (blob, "")
    assert len(signatures.raw_key(blob)) == 32


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "Paste the contents"),
        ("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ", "Only ssh-ed25519"),
        ("ssh-ed25519", "missing"),
        ("ssh-ed25519 not-base64!!", "base64"),
        # a valid base64 blob of another key type
        ("AAAAB3NzaC1yc2EAAAADAQABAAAAAQ==", "Only ssh-ed25519"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==", "truncated"),
    ],
)
def test_parse_public_key_rejects_what_is_not_an_ed25519_key(text, message):
    with pytest.raises(signatures.PublicKeyError, match=message):
        signatures.parse_public_key(text)


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen (openssh-client) is not installed")
def test_fingerprint_is_what_ssh_keygen_prints(ollama_home):
    pub = ollama_home / ".ollama" / "id_ed25519.pub"
    printed = subprocess.run(["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True, check=True).stdout
    blob, _ = signatures.parse_public_key(pub.read_text())
    assert printed.split()[1] == signatures.fingerprint(blob)


def test_challenge_is_method_path_and_ts():
    assert signatures.challenge("post", "/api/chat", [("ts", "1700000000")]) == b"POST,/api/chat?ts=1700000000"
    # other query parameters are signed sorted by name, as Go's url.Values.Encode does
    assert signatures.challenge("GET", "/x", [("ts", "5"), ("a", "b c")]) == b"GET,/x?a=b+c&ts=5"


def test_parse_authorization_tells_signatures_from_other_credentials(ollama_home):
    token = sign(ollama_home, b"GET,/api/tags?ts=1")
    blob, signature = signatures.parse_authorization(token)
    assert blob.startswith("AAAAC3NzaC1lZDI1NTE5") and len(signature) == 64
    for other in ["Bearer sk-abc", "sk-abc", "", "Basic dXNlcjpwYXNz", "a:b:c"]:
        assert signatures.parse_authorization(other) is None


# -- authenticate ------------------------------------------------------------------------------


def test_a_signed_request_acts_as_the_bound_api_key(registered, ollama_home):
    key, public = registered
    identity = authenticate(ollama_home, "POST", "/api/chat")
    assert identity.key_id == key.pk and identity.prefix == key.prefix
    assert identity.allowed_models == frozenset({"llama3"})
    assert identity.can_manage_models is False
    assert public.fingerprint.startswith("SHA256:") and public.api_key_id == key.pk
    assert authenticate(ollama_home, "HEAD", "/").key_id == key.pk  # the CLI's heartbeat is signed too


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sign_path": "/api/tags"},  # signed for another route
        {"sign_method": "GET"},  # signed for another method
    ],
)
def test_a_signature_for_another_request_is_refused(registered, ollama_home, kwargs):
    with pytest.raises(AuthenticationFailed, match="signature is invalid"):
        authenticate(ollama_home, "POST", "/api/chat", **kwargs)


def test_a_tampered_signature_is_refused(registered, ollama_home):
    params, headers = signed_headers(ollama_home, "POST", "/api/chat")
    blob, signature = headers["Authorization"].split(":")
    forged = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    with pytest.raises(AuthenticationFailed, match="signature is invalid"):
        asyncio.run(signatures.authenticate("POST", "/api/chat", list(params.items()), f"{blob}:{forged}"))


@pytest.mark.parametrize("offset", [-121, 121, -10_000])
def test_stale_or_future_timestamps_are_refused(registered, ollama_home, offset):
    with pytest.raises(AuthenticationFailed, match="expired or its timestamp is in the future") as caught:
        authenticate(ollama_home, "POST", "/api/chat", now=int(time.time()) + offset)
    assert caught.value.code == "signature_expired"


def test_timestamps_within_the_window_are_accepted(registered, ollama_home):
    assert authenticate(ollama_home, "GET", "/api/tags", now=int(time.time()) - 100)
    assert authenticate(ollama_home, "GET", "/api/ps", now=int(time.time()) + 100)


def test_a_missing_or_repeated_ts_is_refused(registered, ollama_home):
    _, headers = signed_headers(ollama_home, "GET", "/api/tags")
    for query in ([], [("ts", "abc")], [("ts", "1"), ("ts", "2")]):
        with pytest.raises(AuthenticationFailed, match="ts query parameter"):
            asyncio.run(signatures.authenticate("GET", "/api/tags", query, headers["Authorization"]))


def test_an_unregistered_key_is_refused(registered, tmp_path):
    other = tmp_path / "other"
    make_ollama_home(other)
    with pytest.raises(AuthenticationFailed, match="not registered") as caught:
        authenticate(other, "GET", "/api/tags")
    assert caught.value.code == "unknown_public_key"


@override_settings(SIGNATURE_MAX_USES=2)
def test_a_signature_is_good_for_a_few_uses_only(registered, ollama_home):
    now = int(time.time())
    authenticate(ollama_home, "POST", "/api/show", now=now)
    authenticate(ollama_home, "POST", "/api/show", now=now)  # `ollama run` sends /api/show twice in a second
    with pytest.raises(AuthenticationFailed, match="already been used") as caught:
        authenticate(ollama_home, "POST", "/api/show", now=now)
    assert caught.value.code == "signature_replayed"
    authenticate(ollama_home, "POST", "/api/show", now=now + 1)  # a new second, a new signature


def test_a_replayed_signature_counts_only_once_verified(registered, ollama_home):
    """Forged attempts with someone's public key must not use up the real signature's budget."""
    now = int(time.time())
    params, headers = signed_headers(ollama_home, "POST", "/api/chat", now)
    blob, _ = headers["Authorization"].split(":")
    bogus = f"{blob}:{'A' * 86}=="
    for _ in range(10):
        with pytest.raises(AuthenticationFailed, match="invalid"):
            asyncio.run(signatures.authenticate("POST", "/api/chat", list(params.items()), bogus))
    assert authenticate(ollama_home, "POST", "/api/chat", now=now)


def test_revoked_or_expired_bound_key_refuses_signatures(registered, ollama_home):
    key, _ = registered
    services.revoke_key(key)
    with pytest.raises(AuthenticationFailed, match="revoked"):
        authenticate(ollama_home, "GET", "/api/tags")


def test_removing_the_public_key_stops_it_at_once(registered, ollama_home, alice):
    _, public = registered
    authenticate(ollama_home, "GET", "/api/tags")
    assert services.remove_ollama_key(alice, public.pk) is not None
    with pytest.raises(AuthenticationFailed, match="not registered"):
        authenticate(ollama_home, "GET", "/api/version")


# -- services ----------------------------------------------------------------------------------


def test_register_validates_the_key_and_its_owner(alice, ollama_home):
    bob = get_user_model().objects.create_user("bob", password="pw-bob-123")
    alice_key, _ = services.issue_key(alice, "a")
    bob_key, _ = services.issue_key(bob, "b")
    line = (ollama_home / ".ollama" / "id_ed25519.pub").read_text().strip() + " alice@laptop"
    with pytest.raises(ValidationError, match="your own"):
        services.register_ollama_key(alice, bob_key, line)
    with pytest.raises(ValidationError, match="Only ssh-ed25519"):
        services.register_ollama_key(alice, alice_key, "ssh-rsa AAAAB3Nza")
    public = services.register_ollama_key(alice, alice_key, line)
    assert public.name == "alice@laptop" and public.user == alice
    with pytest.raises(ValidationError, match="already registered"):
        services.register_ollama_key(bob, bob_key, line)
    services.revoke_key(alice_key)
    other = make_ollama_home(ollama_home / "second")
    with pytest.raises(ValidationError, match="active"):
        services.register_ollama_key(alice, alice_key, other.read_text())
    assert OllamaPublicKey.objects.count() == 1


def test_remove_only_touches_the_users_own_keys(registered, ollama_home):
    _, public = registered
    bob = get_user_model().objects.create_user("bob", password="pw-bob-123")
    assert services.remove_ollama_key(bob, public.pk) is None
    assert OllamaPublicKey.objects.filter(pk=public.pk).exists()


def test_manage_scope_is_off_by_default_and_granted_by_staff_only(alice):
    key, _ = services.issue_key(alice, "k")
    assert key.can_manage_models is False
    with pytest.raises(PermissionDenied):
        services.grant_manage_models(key, alice)
    staff = get_user_model().objects.create_user("root", password="pw-root-123", is_staff=True)
    services.grant_manage_models(key, staff)
    key.refresh_from_db()
    assert key.can_manage_models is True
    key_cache.invalidate()
    assert asyncio.run(key_cache.get(key.prefix)).can_manage_models is True
    services.revoke_manage_models(key, staff)
    key.refresh_from_db()
    assert key.can_manage_models is False


def test_malformed_keys_and_signatures_are_refused_before_any_lookup(registered, ollama_home, monkeypatch):
    looked_up = []
    monkeypatch.setattr(signatures, "_lookup_prefix", lambda blob: looked_up.append(blob))
    signatures.public_keys.invalidate()
    params, headers = signed_headers(ollama_home, "GET", "/api/tags")
    blob, signature = headers["Authorization"].split(":")
    for header in (f"AAAAB3NzaC1yc2EAAAADAQABAAAAAQ==:{signature}", f"{blob}:{signature[:40]}"):
        with pytest.raises(AuthenticationFailed, match="signature is invalid"):
            asyncio.run(signatures.authenticate("GET", "/api/tags", list(params.items()), header))
    assert looked_up == []


def test_a_known_public_key_keeps_working_while_the_database_is_down(registered, ollama_home, monkeypatch, settings):
    from django.db import OperationalError

    settings.API_KEY_CACHE_TTL = 0
    authenticate(ollama_home, "GET", "/api/tags")  # known now

    def down(blob):
        raise OperationalError("the database is down")

    monkeypatch.setattr(signatures, "_lookup_prefix", down)
    assert authenticate(ollama_home, "GET", "/api/ps").prefix == registered[0].prefix
    monkeypatch.setattr(signatures, "_lookup_prefix", down)
    signatures.public_keys.invalidate()
    with pytest.raises(OperationalError):
        authenticate(ollama_home, "GET", "/api/version")
