"""Fixtures of the API tests: the embedded engine behind the gateway (real-model tests, marked realmodel) and
the JavaScript clients of tests/js (marked node)."""

from pathlib import Path

import pytest

from tests.engine_process import running_engine
from tests.node import node_with_packages, run_script

JS_DIR = Path(__file__).resolve().parents[1] / "js"


@pytest.fixture(scope="module")
def engine_url(tmp_path_factory):
    with running_engine(tmp_path_factory.mktemp("engine")) as url:
        yield url


@pytest.fixture
def real(gateway, engine_url, settings):
    """The gateway with the engine as its only backend."""
    settings.OLLAMA_HOST = engine_url
    return gateway


@pytest.fixture(scope="session")
def run_js():
    """Runs a script of tests/js (ollama-js and the openai package, pinned) with node: `run_js(name, **env)`
    is the JSON it printed. Skips, loudly, without node and npm."""
    node = node_with_packages(JS_DIR, "SKIPPED: the JavaScript clients (tests/js) NOT run")
    return lambda script, **env: run_script(node, JS_DIR / script, **env)
