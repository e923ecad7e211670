"""The user's reference page (Ollama's "OpenAI compatibility" docs), run unchanged against ollamaweb.

Every example on the page runs as written, except for the server address and a real API key:
the Python example with the real `openai` package, the curl examples with the real `curl`
binary, the JavaScript example with Node.js and the `openai` npm package (tests/js/), and the
`gpt-3.5-turbo` example with the alias that replaces `ollama cp`.
"""

import io
import json
import math
import shutil
import subprocess
from datetime import UTC, datetime

import pytest
from django.core.management import call_command

from ollamaweb.usage.models import RequestLog
from tests.conftest import settle_logs
from tests.fake_ollama import Reply, _embedding
from tests.processes import local_env

LLAMA3_CREATED = int(datetime(2024, 5, 1, 10, tzinfo=UTC).timestamp())  # the fake's default modified_at
QUESTIONS = ["why is the sky blue?", "why is the grass green?"]


def assert_close(actual, expected, tolerance=1e-6):
    assert len(actual) == len(expected)
    assert all(math.isclose(a, e, abs_tol=tolerance) for a, e in zip(actual, expected))


def assert_logged_for(gateway, key):
    """The example's four requests were served for the key's owner, one log row each."""
    settle_logs(gateway)
    rows = RequestLog.objects.order_by("created_at").values_list("endpoint", "status", "user_id", "key_prefix")
    assert list(rows) == [
        (endpoint, 200, key.user_id, key.prefix)
        for endpoint in ("chat.completions", "models", "models.retrieve", "embeddings")
    ]


def expected_vectors():
    return [_embedding(text, 384, None) for text in QUESTIONS]


# --- Python ------------------------------------------------------------------------------------


def test_python_example(gateway, api_key, fake_ollama):
    fake_ollama.reply = Reply(content="This is a test.", prompt_eval_count=14, eval_count=5)
    secret = api_key[1]
    # The page's example, verbatim but for base_url and api_key. -------------------------------
    # fmt: off
    from openai import OpenAI

    client = OpenAI(
        base_url=gateway.url + '/v1/',
        # required but ignored
        api_key=secret,
    )

    chat_completion = client.chat.completions.create(
        messages=[{'role': 'user', 'content': 'Say this is a test'}],
        model='llama3',
    )

    list_completion = client.models.list()

    model = client.models.retrieve("llama3")

    embeddings = client.embeddings.create(
        model="all-minilm",
        input=["why is the sky blue?", "why is the grass green?"]
    )
    # fmt: on
    # -------------------------------------------------------------------------------------------

    assert chat_completion.object == "chat.completion"
    assert chat_completion.model == "llama3"
    assert chat_completion.choices[0].message.role == "assistant"
    assert chat_completion.choices[0].message.content == "This is a test."
    assert chat_completion.choices[0].finish_reason == "stop"
    assert chat_completion.usage.total_tokens == 19

    listed = {entry.id: entry for entry in list_completion.data}
    assert set(listed) == {"llama3:latest", "all-minilm:latest"}
    assert all(entry.object == "model" and entry.owned_by == "library" for entry in listed.values())
    assert all(entry.created == LLAMA3_CREATED for entry in listed.values())

    assert (model.id, model.object, model.created, model.owned_by) == ("llama3", "model", LLAMA3_CREATED, "library")

    assert embeddings.object == "list"
    assert embeddings.model == "all-minilm"
    assert [item.index for item in embeddings.data] == [0, 1]
    for item, expected in zip(embeddings.data, expected_vectors()):
        assert_close(item.embedding, expected)  # sent as base64 float32 by the client, decoded by it
    assert embeddings.usage.prompt_tokens == embeddings.usage.total_tokens == 10
    assert_logged_for(gateway, api_key[0])


# --- curl --------------------------------------------------------------------------------------

CURL_CHAT = """curl http://localhost:11434/v1/chat/completions \\
    -H "Content-Type: application/json" \\
    -d '{
        "model": "llama3",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Hello!"}
        ]
    }'"""

CURL_MODELS = "curl http://localhost:11434/v1/models"

CURL_MODEL = "curl http://localhost:11434/v1/models/llama3"

CURL_EMBEDDINGS = """curl http://localhost:11434/v1/embeddings \\
    -H "Content-Type: application/json" \\
    -d '{
        "model": "all-minilm",
        "input": ["why is the sky blue?", "why is the grass green?"]
    }'"""

CURL_ALIAS_CHAT = """curl http://localhost:11434/v1/chat/completions \\
    -H "Content-Type: application/json" \\
    -d '{
        "model": "gpt-3.5-turbo",
        "messages": [{"role": "user", "content": "Hello!"}]
    }'"""


def run_curl(command: str, gateway, secret: str) -> dict:
    """Run one of the page's curl commands with bash: our address, plus the API key header."""
    assert shutil.which("curl"), "the curl binary is required"
    command = command.replace("http://localhost:11434", gateway.url)
    command += f' \\\n    -H "Authorization: Bearer {secret}"'
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30, env=local_env())
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_curl_examples(gateway, api_key, fake_ollama):
    secret = api_key[1]
    fake_ollama.reply = Reply(content="Hi! How can I help?", prompt_eval_count=20, eval_count=6)

    chat = run_curl(CURL_CHAT, gateway, secret)
    assert chat["object"] == "chat.completion"
    assert chat["model"] == "llama3"
    assert len(chat["choices"]) == 1
    assert chat["choices"][0]["index"] == 0
    message = chat["choices"][0]["message"]
    assert (message["role"], message["content"]) == ("assistant", "Hi! How can I help?")
    assert chat["choices"][0]["finish_reason"] == "stop"
    assert chat["usage"] == {"prompt_tokens": 20, "completion_tokens": 6, "total_tokens": 26}
    native = [r for r in fake_ollama.requests if r.path == "/api/chat"][-1].json
    assert native["messages"] == [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Hello!"},
    ]

    models = run_curl(CURL_MODELS, gateway, secret)
    assert models["object"] == "list"
    assert sorted(models["data"], key=lambda entry: entry["id"]) == [
        {"id": "all-minilm:latest", "object": "model", "created": LLAMA3_CREATED, "owned_by": "library"},
        {"id": "llama3:latest", "object": "model", "created": LLAMA3_CREATED, "owned_by": "library"},
    ]

    model = run_curl(CURL_MODEL, gateway, secret)
    assert model == {"id": "llama3", "object": "model", "created": LLAMA3_CREATED, "owned_by": "library"}

    embeddings = run_curl(CURL_EMBEDDINGS, gateway, secret)
    assert embeddings["object"] == "list"
    assert embeddings["model"] == "all-minilm"
    assert [item["index"] for item in embeddings["data"]] == [0, 1]
    assert all(item["object"] == "embedding" for item in embeddings["data"])
    # No encoding_format: floats, exactly the backend's vectors.
    assert [item["embedding"] for item in embeddings["data"]] == expected_vectors()
    assert embeddings["usage"] == {"prompt_tokens": 10, "total_tokens": 10}


def test_curl_without_a_key_gets_an_openai_error(gateway):
    """The page's curl commands carry no key; against ollamaweb that is a clear 401, not a crash."""
    result = subprocess.run(
        ["curl", "-s", "-w", "\n%{http_code}", gateway.url + "/v1/models"],
        capture_output=True,
        text=True,
        timeout=30,
        env=local_env(),
    )
    body, status = result.stdout.rsplit("\n", 1)
    assert status == "401"
    error = json.loads(body)["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "invalid_api_key"
    assert "API key" in error["message"]


def test_default_model_name_alias_example(gateway, api_key, fake_ollama):
    """`ollama cp llama3 gpt-3.5-turbo` is an alias in ollamaweb; the page's curl then works."""
    out = io.StringIO()
    call_command("alias", "gpt-3.5-turbo", "llama3", stdout=out)
    assert out.getvalue().strip() == "gpt-3.5-turbo → llama3"
    fake_ollama.reply = Reply(content="Hello! I am llama3.")

    chat = run_curl(CURL_ALIAS_CHAT, gateway, api_key[1])

    assert chat["model"] == "gpt-3.5-turbo"
    assert chat["choices"][0]["message"]["content"] == "Hello! I am llama3."
    assert [r for r in fake_ollama.requests if r.path == "/api/chat"][-1].json["model"] == "llama3"
    listed = {entry["id"]: entry for entry in run_curl(CURL_MODELS, gateway, api_key[1])["data"]}
    assert listed["gpt-3.5-turbo"]["created"] == LLAMA3_CREATED


# --- JavaScript --------------------------------------------------------------------------------


@pytest.mark.node
def test_javascript_example(run_js, gateway, api_key, fake_ollama):
    fake_ollama.reply = Reply(content="This is a test.", prompt_eval_count=14, eval_count=5)
    output = run_js("reference_example.mjs", OLLAMAWEB_BASE_URL=gateway.url + "/v1/", OLLAMAWEB_API_KEY=api_key[1])

    chat = output["chatCompletion"]
    assert chat["object"] == "chat.completion" and chat["model"] == "llama3"
    message = chat["choices"][0]["message"]
    assert (message["role"], message["content"]) == ("assistant", "This is a test.")
    assert chat["usage"] == {"prompt_tokens": 14, "completion_tokens": 5, "total_tokens": 19}

    assert sorted(entry["id"] for entry in output["listCompletion"]) == ["all-minilm:latest", "llama3:latest"]
    assert output["model"] == {"id": "llama3", "object": "model", "created": LLAMA3_CREATED, "owned_by": "library"}

    embedding = output["embedding"]
    assert embedding["model"] == "all-minilm"
    assert [item["index"] for item in embedding["data"]] == [0, 1]
    for item, expected in zip(embedding["data"], expected_vectors()):
        assert_close(item["embedding"], expected)
    assert embedding["usage"] == {"prompt_tokens": 10, "total_tokens": 10}
    assert_logged_for(gateway, api_key[0])
