"""Key secrets are stored as HMAC-SHA256 under a key derived from SECRET_KEY."""

import hashlib
import hmac

from django.test import override_settings

from ollamaweb.keys import hashing


def expected(secret: str, secret_key: str) -> str:
    key = hashlib.sha256(b"ollamaweb api key v1:" + secret_key.encode()).digest()
    return hmac.digest(key, secret.encode(), "sha256").hex()


def test_hash_is_the_hmac_of_the_secret_under_the_derived_key(settings):
    for secret in ("sk-" + "a" * 43, hashing.new_secret(), "sk-ü", ""):
        assert hashing.hash_secret(secret) == expected(secret, settings.SECRET_KEY)


def test_each_hash_starts_from_the_key_alone():
    """The keyed HMAC is copied, never updated in place: a hash does not depend on the ones before."""
    first = hashing.hash_secret("sk-one")
    hashing.hash_secret("sk-two")
    assert hashing.hash_secret("sk-one") == first


def test_another_secret_key_gives_other_hashes():
    secret = hashing.new_secret()
    with override_settings(SECRET_KEY="one-" + "x" * 50):
        under_one = hashing.hash_secret(secret)
        assert under_one == expected(secret, "one-" + "x" * 50)
    with override_settings(SECRET_KEY="two-" + "x" * 50):
        assert hashing.hash_secret(secret) != under_one
        assert hashing.matches(secret, expected(secret, "two-" + "x" * 50))
