"""Fixtures of the real-model API tests (marked realmodel): the embedded engine behind the gateway."""

import pytest

from tests.engine_process import running_engine


@pytest.fixture(scope="module")
def engine_url(tmp_path_factory):
    with running_engine(tmp_path_factory.mktemp("engine")) as url:
        yield url


@pytest.fixture
def real(gateway, engine_url, settings):
    """The gateway with the engine as its only backend."""
    settings.OLLAMA_HOST = engine_url
    return gateway
