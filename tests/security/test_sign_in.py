"""Sign-in is throttled (portal and admin), passwords can be reset by e-mail, and e-mail is configured from the environment."""

import re
import time
from datetime import timedelta

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client

from ollamaweb.keys.services import issue_key
from ollamaweb.settings import _email_settings

User = get_user_model()
PASSWORD = "correct horse battery staple"


@pytest.fixture
def alice(db):
    return User.objects.create_user("alice", email="alice@example.com", password=PASSWORD)


@pytest.fixture
def boss(db):
    return User.objects.create_superuser("boss", email="boss@example.com", password=PASSWORD)


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def attempt(client, url, username, password, **headers):
    return client.post(url, {"username": username, "password": password}, **headers)


@pytest.mark.parametrize(("url", "who"), [("/accounts/login/", "alice"), ("/admin/login/", "boss")])
def test_the_right_password_is_refused_after_too_many_wrong_ones(alice, boss, settings, url, who):
    settings.AXES_FAILURE_LIMIT = 5
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    client = Client()
    for _ in range(4):
        response = attempt(client, url, who, "wrong password")
        assert response.status_code == 200 and not signed_in(client)
    assert attempt(client, url, who, "wrong password").status_code == 429  # the fifth failure locks

    response = attempt(client, url, who, PASSWORD)
    assert response.status_code == 429
    assert not signed_in(client)
    html = response.content.decode()
    assert "Too many failed sign-ins" in html and "after 5 failed attempts" in html and "in 15 minutes" in html
    assert response["Retry-After"] == "900"
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert PASSWORD not in html


def test_the_lockout_ends_after_the_cool_off_and_a_success_resets_the_count(alice, settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(seconds=1)
    client = Client()
    for _ in range(3):
        attempt(client, "/accounts/login/", "alice", "wrong password")
    assert attempt(client, "/accounts/login/", "alice", PASSWORD).status_code == 429
    time.sleep(1.2)
    assert attempt(client, "/accounts/login/", "alice", PASSWORD).status_code == 302
    assert signed_in(client)

    client.logout()
    for _ in range(2):  # the success reset the count: two more failures do not lock
        attempt(client, "/accounts/login/", "alice", "wrong password")
    assert attempt(client, "/accounts/login/", "alice", PASSWORD).status_code == 302


def test_a_forged_forwarded_for_header_does_not_escape_the_lockout(alice, settings):
    settings.AXES_FAILURE_LIMIT = 3
    client = Client()
    for n in range(3):
        attempt(client, "/accounts/login/", "alice", "wrong password", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
    response = attempt(client, "/accounts/login/", "alice", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.99")
    assert response.status_code == 429


def test_the_lockout_is_per_user_name_and_address(alice, settings):
    settings.AXES_FAILURE_LIMIT = 3
    attacker = Client(REMOTE_ADDR="198.51.100.7")
    for _ in range(4):
        attempt(attacker, "/accounts/login/", "alice", "wrong password")
    assert attempt(attacker, "/accounts/login/", "alice", PASSWORD).status_code == 429

    alice_at_home = Client(REMOTE_ADDR="192.0.2.10")
    assert attempt(alice_at_home, "/accounts/login/", "alice", PASSWORD).status_code == 302


def test_password_reset_by_e_mail(alice, mailoutbox):
    cache.delete(f"ollamaweb:password-reset-sent:{alice.pk}")
    client = Client()
    login_page = client.get("/accounts/login/").content.decode()
    assert 'href="/accounts/password/reset/"' in login_page

    form = client.get("/accounts/password/reset/")
    assert form.status_code == 200 and "auth-card" in form.content.decode()  # the portal's look
    response = client.post("/accounts/password/reset/", {"email": "alice@example.com"})
    assert response.status_code == 302 and response["Location"] == "/accounts/password/reset/sent/"
    assert "Check your e-mail" in client.get(response["Location"]).content.decode()

    [mail] = mailoutbox
    assert mail.to == ["alice@example.com"] and mail.subject == "Reset your ollamaweb password"
    assert '"alice"' in mail.body
    [link] = re.findall(r"http://testserver(/accounts/password/reset/\S+/\S+/)", mail.body)

    confirm = client.get(link, follow=True)
    assert "Choose a new password" in confirm.content.decode()
    set_password_url = confirm.redirect_chain[-1][0]
    new_password = "a brand new passphrase 42"
    done = client.post(set_password_url, {"new_password1": new_password, "new_password2": new_password})
    assert done.status_code == 302 and done["Location"] == "/accounts/password/reset/complete/"
    assert "Password set" in client.get(done["Location"]).content.decode()

    assert "This link does not work" in client.get(link, follow=True).content.decode()  # used once only
    assert attempt(Client(), "/accounts/login/", "alice", PASSWORD).status_code == 200  # old one refused
    fresh = Client()
    assert attempt(fresh, "/accounts/login/", "alice", new_password).status_code == 302 and signed_in(fresh)


def test_password_reset_e_mails_are_spaced_per_account(alice, mailoutbox, settings):
    settings.PASSWORD_RESET_INTERVAL = 300
    cache.delete(f"ollamaweb:password-reset-sent:{alice.pk}")
    for _ in range(5):
        response = Client().post("/accounts/password/reset/", {"email": "alice@example.com"})
        assert response.status_code == 302 and response["Location"] == "/accounts/password/reset/sent/"
    assert len(mailoutbox) == 1


def test_password_reset_for_an_unknown_address_says_the_same_and_sends_nothing(alice, mailoutbox):
    response = Client().post("/accounts/password/reset/", {"email": "nobody@example.com"})
    assert response.status_code == 302 and response["Location"] == "/accounts/password/reset/sent/"
    assert mailoutbox == []


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}),
        ({"EMAIL_URL": "console://"}, {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}),
        (
            {"EMAIL_URL": "smtp+tls://gate%40example.com:p%2Fss@mail.example.com"},
            {
                "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "EMAIL_HOST": "mail.example.com",
                "EMAIL_PORT": 587,
                "EMAIL_HOST_USER": "gate@example.com",
                "EMAIL_HOST_PASSWORD": "p/ss",
                "EMAIL_USE_TLS": True,
                "EMAIL_USE_SSL": False,
            },
        ),
        (
            {"EMAIL_URL": "smtps://u:p@mail.example.com:2465"},
            {"EMAIL_HOST": "mail.example.com", "EMAIL_PORT": 2465, "EMAIL_USE_TLS": False, "EMAIL_USE_SSL": True},
        ),
        ({"EMAIL_URL": "smtp://relay"}, {"EMAIL_HOST": "relay", "EMAIL_PORT": 25, "EMAIL_HOST_USER": ""}),
        (
            {"EMAIL_URL": "file:///var/mail/ollamaweb"},
            {
                "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
                "EMAIL_FILE_PATH": "/var/mail/ollamaweb",
            },
        ),
        (
            {"EMAIL_HOST": "relay.internal", "EMAIL_PORT": "2525", "EMAIL_HOST_USER": "u", "EMAIL_USE_TLS": "1"},
            {"EMAIL_HOST": "relay.internal", "EMAIL_PORT": 2525, "EMAIL_HOST_USER": "u"},
        ),
    ],
)
def test_email_settings_from_the_environment(environ, expected):
    settings = _email_settings(environ)
    assert {name: settings.get(name) for name in expected} == expected


def test_the_lockout_holds_on_the_real_asgi_server(gateway, settings):
    """The portal runs under ASGI, where django-axes takes its async path."""
    settings.AXES_FAILURE_LIMIT = 3
    User.objects.create_user("carol", password=PASSWORD)
    with httpx.Client(base_url=gateway.url, follow_redirects=False) as browser:

        def sign_in(password):
            form = browser.get("/accounts/login/")
            [token] = re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
            return browser.post(
                "/accounts/login/",
                data={"username": "carol", "password": password, "csrfmiddlewaretoken": token},
                headers={"Referer": gateway.url + "/accounts/login/"},
            )

        assert sign_in("wrong password").status_code == 200
        assert sign_in("wrong password").status_code == 200
        assert sign_in("wrong password").status_code == 429
        locked = sign_in(PASSWORD)
        assert locked.status_code == 429 and "Too many failed sign-ins" in locked.text
        assert "sessionid" not in browser.cookies


def test_flash_messages_never_travel_in_a_cookie(alice):
    client = Client()
    client.force_login(alice)
    key, _ = issue_key(alice, "laptop")
    response = client.post(f"/keys/{key.pk}/revoke/")
    assert response.status_code == 302
    assert "messages" not in response.cookies
    assert "Revoked key" in client.get("/keys/").content.decode()  # the message still shows, from the session


def test_what_the_lockout_counts_is_configurable(tmp_path):
    from tests.security.test_production import manage

    show = "from django.conf import settings as s; print(s.AXES_LOCKOUT_PARAMETERS)"
    assert manage(tmp_path, "shell", "-c", show).stdout.split("\n")[-2] == "[['username', 'ip_address']]"
    custom = manage(
        tmp_path, "shell", "-c", show, env={"OLLAMAWEB_LOGIN_LOCKOUT_BY": "ip_address, username+user_agent"}
    )
    assert custom.stdout.split("\n")[-2] == "['ip_address', ['username', 'user_agent']]", custom.stderr
