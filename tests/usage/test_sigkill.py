"""A process killed outright (SIGKILL) loses no row of a request it had answered: the journal keeps
them, and the next start writes them (each once)."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import httpx
import pytest

from tests.fake_ollama import Reply
from tests.processes import ROOT, UVICORN, free_port, manage

pytestmark = pytest.mark.slow
HI = [{"role": "user", "content": "hi"}]


def test_answered_requests_survive_a_sigkill(tmp_path, fake_ollama_server):
    fake = fake_ollama_server
    fake.reset()
    fake.add_model("llama3")
    fake.reply = Reply(content="fine")
    database = tmp_path / "killed.sqlite3"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "OLLAMA_HOST": fake.url,
        "DJANGO_SECRET_KEY": "sigkill-test",
        "OLLAMAWEB_LOG_SPOOL_DIR": str(tmp_path / "spool"),
        "OLLAMAWEB_LOG_FLUSH_INTERVAL": "3600",  # nothing is written before the kill
        "OLLAMAWEB_LOG_BATCH_SIZE": "100000",
    }
    env.pop("REDIS_URL", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    secret = manage(env, "createapikey", "kim")

    def start():
        port = free_port()
        server = subprocess.Popen(
            [*UVICORN, "--port", str(port), "--log-level", "warning"],
            cwd=ROOT, env=env,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/api/version", timeout=5)
                return server, f"http://127.0.0.1:{port}/v1/chat/completions"
            except httpx.TransportError:
                assert time.monotonic() < deadline and server.poll() is None, "server did not start"
                time.sleep(0.1)

    def rows():
        with sqlite3.connect(database) as connection:
            return connection.execute(
                "select count(*) from usage_requestlog where endpoint = 'chat.completions'"
            ).fetchone()[0]

    server, url = start()
    for _ in range(25):
        response = httpx.post(
            url, json={"model": "llama3", "messages": HI}, headers={"Authorization": f"Bearer {secret}"}
        )
        assert response.status_code == 200
    server.send_signal(signal.SIGKILL)
    server.wait(timeout=10)
    assert rows() == 0  # nothing was flushed: every answered request was only in the journal

    server, _ = start()
    try:
        deadline = time.monotonic() + 30
        while rows() < 25:
            assert time.monotonic() < deadline, f"{rows()} rows of 25 after the restart"
            time.sleep(0.2)
        time.sleep(1)
        assert rows() == 25  # once each
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
