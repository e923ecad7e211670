"""A database outage loses no request-log row: records wait (or are spilled to disk at shutdown) and
are written when the database answers again. The outage is real: the gateway reaches PostgreSQL
through a TCP proxy that the test cuts and restores."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import psycopg
import pytest

from tests.processes import ROOT, UVICORN, free_port, manage
from tests.services import postgres_url_or_skip

pytestmark = pytest.mark.slow
DATABASE = "ollamaweb_outage"
HI = [{"role": "user", "content": "hi"}]


class CuttableProxy:
    """Forwards 127.0.0.1:port to PostgreSQL; `cut()` drops every connection and refuses new ones."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.port = free_port()
        self.up = True
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            client, _ = self._listener.accept()
            if not self.up:
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source, destination):
        try:
            while data := source.recv(65536):
                destination.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, destination):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self):
        self.up = False
        with self._lock:
            for sock in self._sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._sockets.clear()

    def restore(self):
        self.up = True


def count_rows(url) -> int:
    with psycopg.connect(url) as connection:
        return connection.execute("SELECT count(*) FROM usage_requestlog").fetchone()[0]


def test_outage_and_shutdown_during_it_lose_no_row(tmp_path, fake_ollama_server):
    base = postgres_url_or_skip().replace("postgres://", "postgresql://")
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {DATABASE}")
    direct = base.rsplit("/", 1)[0] + f"/{DATABASE}"
    fake = fake_ollama_server
    fake.reset()
    fake.add_model("llama3")
    env = {**os.environ, "DATABASE_URL": direct, "OLLAMA_HOST": fake.url, "DJANGO_SECRET_KEY": "outage-test"}
    env.pop("REDIS_URL", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    secret = manage(env, "createapikey", "olga")
    proxy = CuttableProxy(int(direct.split("@", 1)[1].split("/")[0].rsplit(":", 1)[1]))
    through_proxy = direct.replace(direct.split("@", 1)[1].split("/")[0], f"127.0.0.1:{proxy.port}")
    server_env = {
        **env,
        "DATABASE_URL": through_proxy.replace("postgresql://", "postgres://"),
        "OLLAMAWEB_KEY_CACHE_TTL": "3600",  # this test is about the log: keys stay known during the outage
        "OLLAMAWEB_CONFIG_CACHE_TTL": "3600",
        "OLLAMAWEB_LOG_FLUSH_INTERVAL": "0.1",
        "OLLAMAWEB_LOG_SPOOL_DIR": str(tmp_path / "spool"),
        "DATABASE_POOL_TIMEOUT": "2",
    }

    log = tmp_path / "server.log"

    def start():
        port = free_port()
        server = subprocess.Popen(
            [*UVICORN, "--port", str(port),
             "--log-level", "warning", "--timeout-graceful-shutdown", "10"],
            cwd=ROOT, env=server_env, stderr=open(log, "a"),
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/v1/models", headers={"Authorization": f"Bearer {secret}"})
                return server, f"http://127.0.0.1:{port}/v1/chat/completions"
            except httpx.TransportError:
                assert time.monotonic() < deadline and server.poll() is None, "server did not start"
                time.sleep(0.1)

    def chat(url, count):
        for _ in range(count):
            response = httpx.post(
                url, json={"model": "llama3", "messages": HI}, headers={"Authorization": f"Bearer {secret}"}, timeout=20
            )
            assert response.status_code == 200, log.read_text()[-3000:]

    def wait_for_rows(expected, timeout=30):
        deadline = time.monotonic() + timeout
        while count_rows(direct) != expected:
            assert time.monotonic() < deadline, f"{count_rows(direct)} rows, expected {expected}"
            time.sleep(0.2)

    server, url = start()
    try:
        chat(url, 5)
        wait_for_rows(6)  # the start-up probe (GET /v1/models) is a request too

        proxy.cut()
        chat(url, 20)  # the database is unreachable: answers go on, records wait
        time.sleep(1)
        assert count_rows(direct) == 6
        proxy.restore()
        wait_for_rows(26)

        proxy.cut()
        chat(url, 10)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        assert "spilled 10 request-log records" in log.read_text(), log.read_text()[-3000:]
        assert len(list((tmp_path / "spool").glob("requests-*.jsonl"))) == 1
    finally:
        if server.poll() is None:
            server.kill()
        proxy.restore()

    server, url = start()  # the next start writes what was spilled
    try:
        wait_for_rows(37)  # + this start's probe
        assert list((tmp_path / "spool").glob("requests-*.jsonl")) == []
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
