"""Helpers for tests that run the gateway (or its commands) as separate processes."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
# The gateway served as in production (bin/serve), in a process of its own.
UVICORN = [
    sys.executable,
    "-m",
    "uvicorn",
    "ollamaweb.asgi:application",
    "--http",
    "ollamaweb.core.uvicorn_http:HttpProtocol",
]


def local_env(**extra) -> dict:
    """The environment for a subprocess, without proxy or OpenAI settings that could divert it."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.lower().endswith("_proxy") and not name.startswith("OPENAI_")
    }
    return {**env, **extra}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(env, *args) -> str:
    """Run a management command with `env`; the last line it printed."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return done.stdout.strip().splitlines()[-1]


def wait_until_serving(urls: list[str], timeout: float = 30):
    """Wait until every gateway at `urls` answers (its /v1/models, whatever the status)."""
    deadline = time.monotonic() + timeout
    for url in urls:
        while True:
            try:
                httpx.get(url + "/v1/models", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
