"""The server log never holds an API key, a fetched image's URL, or prompt text."""

import base64
import logging

import pytest

from tests.security.image_server import PNG, ImageServer

PROMPT = "my-confidential-prompt-text-7f3a"
TOKEN = "sig-1b2c3d4e5f-secret-signature"


@pytest.fixture
def image_server(settings):
    settings.IMAGE_FETCH_ALLOW_PRIVATE = True  # the image server is on 127.0.0.1
    server = ImageServer()
    yield server
    server.close()


@pytest.mark.parametrize("root_level", [logging.INFO, logging.DEBUG])
def test_a_request_with_a_key_and_an_image_url_leaves_neither_in_the_log(
    client, api_key, fake_ollama, image_server, caplog, root_level
):
    """At the configured level (INFO) and even with the root logger at DEBUG (OLLAMAWEB_LOG_LEVEL=DEBUG)."""
    caplog.set_level(root_level)  # the root logger only: the settings' per-logger levels stay
    image_url = f"http://127.0.0.1:{image_server.port}/cat.png?token={TOKEN}"
    chat = client.chat.completions.create(
        model="llama3",
        messages=[
            {
                "role": "user",
                "content": [{"type": "text", "text": PROMPT}, {"type": "image_url", "image_url": {"url": image_url}}],
            }
        ],
    )
    assert chat.choices[0].message.content
    [call] = [r for r in fake_ollama.requests if r.path == "/api/chat"]
    assert call.json["messages"][0]["images"] == [base64.b64encode(PNG).decode()]  # the image was fetched
    assert image_server.requests == [(f"/cat.png?token={TOKEN}", f"127.0.0.1:{image_server.port}")]

    logged = "\n".join(f"{record.name} {record.getMessage()}" for record in caplog.records)
    logged += caplog.text
    secret = api_key[1]
    for leak in (secret, secret[12:], TOKEN, "/cat.png", PROMPT):
        assert leak not in logged, (leak, logged[:3000])
