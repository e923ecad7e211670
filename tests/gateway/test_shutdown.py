"""A graceful shutdown (SIGTERM to uvicorn) finishes in-flight streams and loses no log record."""

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.fake_ollama import Reply
from tests.processes import UVICORN, free_port, manage

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_sigterm_completes_streams_and_flushes_request_logs(tmp_path, fake_ollama_server):
    fake = fake_ollama_server
    fake.reset()
    fake.add_model("llama3")
    fake.reply = Reply(content="one two three four five six", token_delay=0.15)
    database = tmp_path / "shutdown.sqlite3"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "OLLAMA_HOST": fake.url,
        "DJANGO_SECRET_KEY": "shutdown-test",
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    secret = manage(env, "createapikey", "frank")
    port = free_port()
    server = subprocess.Popen(
        [*UVICORN, "--port", str(port),
         "--log-level", "warning", "--timeout-graceful-shutdown", "20"],
        cwd=ROOT, env={**env, "OLLAMAWEB_LOG_FLUSH_INTERVAL": "30"},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1)
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)

    bodies = []

    def stream():
        body = {"model": "llama3", "stream": True, "messages": [{"role": "user", "content": "count"}]}
        with httpx.stream(
            "POST", url, json=body, headers={"Authorization": f"Bearer {secret}"}, timeout=30
        ) as response:
            bodies.append(response.read())

    threads = [threading.Thread(target=stream) for _ in range(5)]
    for thread in threads:
        thread.start()
    fake.wait_for(lambda: fake.active == 5, timeout=5)
    server.send_signal(signal.SIGTERM)
    for thread in threads:
        thread.join(timeout=30)
    assert server.wait(timeout=30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it handled

    assert len(bodies) == 5 and all(body.endswith(b"data: [DONE]\n\n") for body in bodies)
    with sqlite3.connect(database) as connection:
        rows = connection.execute("select status, completion_tokens from usage_requestlog").fetchall()
    assert sorted(row for row in rows if row[0] != 401) == [(200, 6)] * 5
    assert 1 <= len(rows) - 5 <= 3  # the readiness probes above (401): one, or more when one timed out
