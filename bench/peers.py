"""Other gateways for `bench/run.py --peers`: LiteLLM's proxy and Portkey's gateway, installed on first
use into bench/.peers/ (ignored by git) from PyPI and npm, and run offline against the bench's fake
Ollama. Nothing here is needed by the normal benchmark or the tests.

What each does per request in the benchmark: LiteLLM checks its master key (no database, so no
virtual keys, spend logs or budgets); Portkey has no auth, no database and no request log.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

PEERS = Path(__file__).resolve().parent / ".peers"
LITELLM_VERSION = "1.108.7"
PORTKEY_VERSION = "1.15.2"
# Portkey's streams fail ("TypeError: immutable" when it adds its headers to the upstream's
# response) with @hono/node-server 1.14 and later (Portkey-AI/gateway issue #1389); 1.13 works.
HONO_NODE_SERVER = "1.13.8"
LITELLM_KEY = "sk-bench-master"


@dataclass
class Peer:
    name: str
    port: int
    what: str  # what it does per request
    cmd: list[str]
    env: dict
    cwd: Path
    api: str  # the upstream API it calls: "ollama" (/api/chat) or "openai" (/v1/chat/completions)
    key: str = ""
    headers: list[str] = field(default_factory=list)
    model_prefix: str = ""
    ready_path: str = "/"


def run(cmd: list[str], cwd: Path, log) -> None:
    log(f"peers: {' '.join(cmd)}")
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=1200)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")


def install_litellm(log) -> Path:
    """The LiteLLM proxy in its own virtual environment (its dependencies clash with ours)."""
    venv = PEERS / "litellm"
    marker = venv / f".installed-{LITELLM_VERSION}"
    if not marker.exists():
        PEERS.mkdir(exist_ok=True)
        run([sys.executable, "-m", "venv", "--clear", str(venv)], PEERS, log)
        run([str(venv / "bin" / "pip"), "install", "-q", f"litellm[proxy]=={LITELLM_VERSION}"], PEERS, log)
        marker.touch()
    return venv


def install_portkey(log) -> Path:
    folder = PEERS / "portkey"
    marker = folder / f".installed-{PORTKEY_VERSION}-{HONO_NODE_SERVER}"
    if not marker.exists():
        folder.mkdir(parents=True, exist_ok=True)
        package = {
            "private": True,
            "dependencies": {"@portkey-ai/gateway": PORTKEY_VERSION},
            "overrides": {"@hono/node-server": HONO_NODE_SERVER},
        }
        (folder / "package.json").write_text(json.dumps(package, indent=2) + "\n")
        run(["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts"], folder, log)
        marker.touch()
    return folder


def litellm(port: int, upstream_port: int, env: dict, log) -> Peer:
    venv = install_litellm(log)
    folder = PEERS / "litellm-run"
    folder.mkdir(exist_ok=True)
    config = {
        "model_list": [
            {
                "model_name": "bench*",
                "litellm_params": {"model": "ollama_chat/bench*", "api_base": f"http://127.0.0.1:{upstream_port}"},
            }
        ],
        "general_settings": {"master_key": LITELLM_KEY},
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    # Its access log off, as ours (uvicorn's --no-access-log).
    logging = {"version": 1, "disable_existing_loggers": False, "loggers": {"uvicorn.access": {"level": "WARNING"}}}
    (folder / "logging.json").write_text(json.dumps(logging))
    cmd = [str(venv / "bin" / "litellm"), "--config", str(folder / "config.json"), "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--num_workers", "1", "--log_config", str(folder / "logging.json")]
    env = {
        **env,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # offline: no download of the price list
        "REPEATED_STREAMING_CHUNK_LIMIT": "1000000000",  # the bench's tokens are identical chunks
        "LITELLM_LOG": "ERROR",
        "DISABLE_SCHEMA_UPDATE": "True",
        "LITELLM_TELEMETRY": "False",
    }
    env.pop("DATABASE_URL", None)
    return Peer(
        f"LiteLLM {LITELLM_VERSION}",
        port,
        "master key only (no database: no virtual keys, budgets or spend logs)",
        cmd,
        env,
        folder,
        "ollama",
        key=LITELLM_KEY,
        ready_path="/health/liveliness",
    )


def portkey(port: int, upstream_port: int, env: dict, log) -> Peer:
    folder = install_portkey(log)
    script = folder / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
    return Peer(
        f"Portkey {PORTKEY_VERSION}",
        port,
        "no auth, no database, no request log",
        ["node", str(script), f"--port={port}", "--headless"],
        {**env, "NODE_ENV": "production"},
        folder,
        "openai",
        headers=["x-portkey-provider: ollama", f"x-portkey-custom-host: http://127.0.0.1:{upstream_port}"],
    )
