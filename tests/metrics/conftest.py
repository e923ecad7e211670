import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families


class Scrape:
    """One /metrics scrape: sample values by name and labels."""

    def __init__(self, text: str):
        self.text = text
        self.samples = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value

    def value(self, name: str, **labels) -> float:
        """The sum of the samples named `name` whose labels include `labels` (0 when none)."""
        wanted = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == name and wanted <= set(ls))

    def labelsets(self, name: str) -> list[dict]:
        return [dict(ls) for (n, ls) in self.samples if n == name]


def scrape(gateway, token: str | None = None) -> Scrape:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(gateway.url + "/metrics", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape(response.text)


@pytest.fixture
def metrics(gateway):
    """scrape() for this test's gateway."""
    return lambda token=None: scrape(gateway, token)
