"""/v1/messages and count_tokens in front of the embedded engine: real inference, exact counts."""

import anthropic
import pytest

from ollamaweb.usage.models import RequestLog
from tests.conftest import settle_logs
from tests.engine_process import chatml, prompt_tokens, require_engine_packages

require_engine_packages()

pytestmark = pytest.mark.realmodel
CHAT = "smollm2:135m"
SYSTEM = "You are a terse assistant."
QUESTION = [{"role": "user", "content": "Name three colors."}]


@pytest.fixture
def claude(gateway, engine_url, settings, api_key, monkeypatch):
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings.OLLAMA_HOST = engine_url
    return anthropic.Anthropic(base_url=gateway.url, auth_token=api_key[1], max_retries=0, timeout=60)


def test_messages_and_count_tokens_agree_with_the_tokenizer(claude, gateway):
    count = claude.messages.count_tokens(model=CHAT, system=SYSTEM, messages=QUESTION)
    prompt = chatml(("system", SYSTEM), ("user", QUESTION[0]["content"]))
    assert count.input_tokens == prompt_tokens(CHAT, prompt)

    message = claude.messages.create(model=CHAT, system=SYSTEM, messages=QUESTION, max_tokens=24)
    assert message.content[0].type == "text" and message.content[0].text.strip()
    assert message.stop_reason in ("end_turn", "max_tokens")
    assert message.usage.input_tokens == count.input_tokens
    assert 0 < message.usage.output_tokens <= 24

    with claude.messages.stream(model=CHAT, system=SYSTEM, messages=QUESTION, max_tokens=16) as stream:
        text = "".join(stream.text_stream)
        streamed = stream.get_final_message()
    assert text.strip() and streamed.usage.input_tokens == count.input_tokens
    settle_logs(gateway)
    rows = list(RequestLog.objects.order_by("created_at").values_list("endpoint", "prompt_tokens", "usage_source"))
    assert rows == [
        ("messages.count_tokens", 0, "none"),  # counted, not served: no tokens charged
        ("messages", count.input_tokens, "measured"),
        ("messages", count.input_tokens, "measured"),
    ]
