"""The Playground's model choice and the quick start's key/model/snippet consistency; whole-number chart axes."""

import re

from ollamaweb.catalog.models import ModelAlias
from ollamaweb.keys.services import issue_key
from ollamaweb.portal import charts
from tests.portal.helpers import client_for, text


def test_playground_defaults_to_a_working_model_and_shows_broken_aliases_as_such(alice, backend):
    ModelAlias.objects.create(name="aaa-broken", target="no-such-model")  # sorts first
    ModelAlias.objects.create(name="gpt-4o", target="llama3")
    html = text(client_for(alice).get("/playground/"))
    assert '<option value="gpt-4o" selected>' in html
    assert '<option value="aaa-broken" disabled>aaa-broken → no-such-model (not served)</option>' in html
    assert html.count(" selected>") == 1


def test_playground_without_aliases_defaults_to_the_first_chat_model(alice, backend):
    html = text(client_for(alice).get("/playground/"))
    assert '<option value="llama3:latest" selected>' in html
    assert "markdown.js" in html


def test_quickstart_example_fits_the_chosen_key(alice, backend):
    ModelAlias.objects.create(name="aaa-broken", target="no-such-model")
    ModelAlias.objects.create(name="gpt-4o", target="llama3")
    ModelAlias.objects.create(name="gpt-3.5-turbo", target="llama3")
    restricted, _ = issue_key(alice, "only-4o", allowed_models=["gpt-4o"])
    html = text(client_for(alice).get("/quickstart/"))
    assert f"“only-4o” (<code>{restricted.prefix}…</code>), which may use gpt-4o" in html
    python = re.search(r'<pre id="qs-python"><code>(.*?)</code></pre>', html, re.S).group(1)
    assert 'model="gpt-4o"' in python and "gpt-3.5-turbo" not in python and "aaa-broken" not in python
    assert "embeddings.create" not in python  # this key may not use an embedding model
    # With a key for every model, it is preferred, and the broken alias is never the example.
    issue_key(alice, "laptop")
    html = text(client_for(alice).get("/quickstart/"))
    python = re.search(r'<pre id="qs-python"><code>(.*?)</code></pre>', html, re.S).group(1)
    assert "“laptop”" in html and 'model="gpt-3.5-turbo"' in python and 'model="all-minilm:latest"' in python


def test_quickstart_python_reads_the_key_from_the_environment(alice, backend):
    key, secret = issue_key(alice, "laptop")
    html = text(client_for(alice).get("/quickstart/"))
    python = re.search(r'<pre id="qs-python"><code>(.*?)</code></pre>', html, re.S).group(1)
    assert 'api_key=os.environ["OPENAI_API_KEY"]' in python and key.prefix not in python
    assert "print()  # end the streamed line" in python
    assert secret not in html


def test_count_charts_have_whole_number_ticks():
    for highest in (0, 1, 3, 7, 13, 21, 25, 50, 99, 130, 2499, 12_345):
        svg = charts.stacked_bars("c", "t", ["a", "b"], [("m", "#000", [highest, 0])], "requests")
        ticks = [
            float(t.replace("k", "e3").replace("M", "e6"))
            for t in re.findall(r'x="54" y="[0-9.]+" text-anchor="end">([^<]+)<', svg)
        ]
        assert len(ticks) == 5
        assert all(t == int(t) for t in ticks), (highest, ticks)
        assert max(ticks) >= highest


def test_quickstart_shows_codex_and_claude_code_configuration(alice, backend):
    key, _ = issue_key(alice, "laptop")
    html = text(client_for(alice).get("/quickstart/"))
    assert 'wire_api = "responses"' in html and 'base_url = "http://testserver/v1"' in html
    assert 'export ANTHROPIC_BASE_URL="http://testserver"' in html
    assert f'export ANTHROPIC_AUTH_TOKEN="{key.prefix}…"' in html
