"""Production is secure by configuration: `check --deploy` is clean with the README's environment, secret
files are created private, and /v1 answers only the allowed host names."""

import os
import re
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import openai
import pytest

ROOT = Path(__file__).resolve().parents[2]


def documented_production_environment() -> dict[str, str]:
    """The variables of the shell block in the README's Production section."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Production\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```shell\n(.*?)```", section, re.S)
    [block] = [b for b in blocks if "DJANGO_HTTPS" in b]
    environ = {}
    for line in block.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, value = line.split("=", 1)
            environ[name] = " ".join(shlex.split(value))
    return environ


def manage(tmp_path, *args, env=None):
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "EMAIL_", "OLLAMAWEB_")) and key != "DATABASE_URL"
    }
    environ.update(
        DJANGO_SETTINGS_MODULE="ollamaweb.settings",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        DJANGO_SECRET_KEY_FILE=str(tmp_path / "secret_key"),
    )
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_with_the_documented_production_environment(tmp_path):
    environ = documented_production_environment()
    assert environ["DJANGO_HTTPS"] == "1" and environ["DJANGO_SECURE_PROXY_SSL_HEADER"] == "X-Forwarded-Proto: https"
    environ["DJANGO_SECRET_KEY_FILE"] = str(tmp_path / "secret_key")  # /var/lib/… is not ours to write here

    result = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", env=environ)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout

    settings = manage(
        tmp_path,
        "shell",
        "-c",
        "from django.conf import settings as s; print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, "
        "s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, s.SECURE_PROXY_SSL_HEADER, s.EMAIL_HOST, s.EMAIL_USE_TLS)",
        env=environ,
    )
    assert settings.stdout.split("\n")[-2] == (
        "True True True 31536000 ('HTTP_X_FORWARDED_PROTO', 'https') smtp.example.com True"
    ), settings.stderr


def test_check_deploy_names_what_is_missing_by_default(tmp_path):
    result = manage(tmp_path, "check", "--deploy")
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr + result.stdout


def test_the_secret_key_file_and_the_sqlite_database_are_created_private(tmp_path):
    create_and_write = "from django.db import connection; connection.cursor().execute('CREATE TABLE t (x)')"
    result = manage(tmp_path, "shell", "-c", create_and_write)
    assert result.returncode == 0, result.stderr

    files = [tmp_path / "secret_key", tmp_path / "db.sqlite3"]
    files += [path for path in tmp_path.iterdir() if path.name.startswith("db.sqlite3-")]  # -wal, -shm
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, (path.name, oct(path.stat().st_mode))
    assert len((tmp_path / "secret_key").read_text()) >= 50


def test_check_deploy_warns_about_key_material_others_can_read(tmp_path):
    environ = documented_production_environment()
    environ["DJANGO_SECRET_KEY_FILE"] = str(tmp_path / "secret_key")
    assert manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", env=environ).returncode == 0
    (tmp_path / "db.sqlite3").chmod(0o644)  # as an install from before files were created private
    (tmp_path / "secret_key").chmod(0o640)

    result = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", env=environ)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert output.count("ollamaweb.W001") == 2
    assert f"chmod 600 {tmp_path / 'db.sqlite3'}*" in output and f"chmod 600 {tmp_path / 'secret_key'}*" in output


def test_a_bad_proxy_ssl_header_setting_is_refused(tmp_path):
    result = manage(tmp_path, "check", env={"DJANGO_SECURE_PROXY_SSL_HEADER": "https"})
    assert result.returncode != 0
    assert "DJANGO_SECURE_PROXY_SSL_HEADER must look like" in result.stderr


# --- /v1 and ALLOWED_HOSTS -----------------------------------------------------------------------


def test_v1_refuses_a_host_outside_allowed_hosts_with_an_openai_error(gateway, api_key, fake_ollama):
    bad = openai.OpenAI(
        base_url=gateway.url + "/v1/",
        api_key=api_key[1],
        max_retries=0,
        default_headers={"Host": "evil.example"},
    )
    with pytest.raises(openai.BadRequestError) as caught:
        bad.chat.completions.create(model="llama3", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 400
    assert caught.value.body["code"] == "invalid_host"
    assert caught.value.response.headers["content-type"] == "application/json"
    assert fake_ollama.requests == []  # never reached a backend

    for host in ("evil.example", "127.0.0.1.evil.example", ""):
        response = httpx.get(
            gateway.url + "/v1/models", headers={"Host": host, "Authorization": f"Bearer {api_key[1]}"}
        )
        assert response.status_code == 400, host
        assert response.json()["error"]["type"] == "invalid_request_error"

    good = httpx.get(gateway.url + "/v1/models", headers={"Authorization": f"Bearer {api_key[1]}"})
    assert good.status_code == 200 and good.json()["object"] == "list"


def test_a_bad_host_gets_the_error_shape_of_the_protocol_serving_the_path(gateway, api_key):
    headers = {"Host": "evil.example", "Authorization": f"Bearer {api_key[1]}", "x-api-key": api_key[1]}
    anthropic = httpx.post(gateway.url + "/v1/messages", headers=headers, json={})
    assert anthropic.status_code == 400
    assert anthropic.json()["type"] == "error" and anthropic.json()["error"]["type"] == "invalid_request_error"
    native = httpx.get(gateway.url + "/api/tags", headers=headers)
    assert native.status_code == 400 and "Invalid Host header" in native.json()["error"]
