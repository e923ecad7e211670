"""uvicorn --workers 2 with PROMETHEUS_MULTIPROC_DIR: every scrape, whichever worker answers it,
counts the requests of both workers."""

import os
import subprocess
import sys
import time

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from tests.metrics.conftest import Scrape
from tests.processes import ROOT, UVICORN, free_port, manage

pytestmark = pytest.mark.slow

REQUESTS = 30


@pytest.fixture
def two_workers(tmp_path, fake_ollama):
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'gateway.sqlite3'}",
        "OLLAMA_HOST": fake_ollama.url,
        "DJANGO_SECRET_KEY": "multiprocess-metrics-secret",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "OLLAMAWEB_HEALTH_INTERVAL": "0",
        "OLLAMAWEB_METRICS_TOKEN": "scrape-me",
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    secret = manage(env, "createapikey", "alice")
    port = free_port()
    process = subprocess.Popen(
        [*UVICORN, "--port", str(port), "--workers", "2",
         "--log-level", "warning"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(url + "/metrics", headers={"Authorization": "Bearer scrape-me"}, timeout=2)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("the gateway did not start") from None
            time.sleep(0.2)
    yield url, secret, metrics_dir
    process.terminate()
    process.wait(timeout=30)


def test_scrapes_add_up_every_workers_requests(two_workers):
    url, secret, metrics_dir = two_workers
    body = {"model": "llama3", "messages": [{"role": "user", "content": "hi"}]}
    for _ in range(REQUESTS):  # a new connection each: the kernel spreads them over the workers
        response = httpx.post(url + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {secret}"})
        assert response.status_code == 200
    served = {}  # pid → requests it counted in its own file
    for path in metrics_dir.glob("counter_*.db"):
        samples = [s for m in MultiProcessCollector._read_metrics([str(path)]).values() for s in m.samples]
        count = sum(s.value for s in samples if s.name == "ollamaweb_requests_total")
        if count:
            served[path.stem.rsplit("_", 1)[-1]] = count
    assert len(served) == 2 and sum(served.values()) == REQUESTS, served  # both workers served some
    for _ in range(6):  # whichever worker answers, the total is the same
        response = httpx.get(url + "/metrics", headers={"Authorization": "Bearer scrape-me"})
        scrape = Scrape(response.text)
        assert scrape.value("ollamaweb_requests_total", endpoint="chat.completions", status_class="2xx") == REQUESTS
        assert scrape.value("ollamaweb_request_duration_seconds_count", endpoint="chat.completions") == REQUESTS
    assert httpx.get(url + "/metrics").status_code == 401
