"""The native /api routes in front of the embedded engine: real models through ollama-python."""

import math

import ollama
import pytest

from ollamaweb.usage.models import RequestLog
from tests.conftest import settle_logs
from tests.engine_process import require_engine_packages

require_engine_packages()

pytestmark = pytest.mark.realmodel
CHAT, EMBED = "smollm2:135m", "all-minilm"


@pytest.fixture
def native(gateway, engine_url, settings, api_key):
    settings.OLLAMA_HOST = engine_url
    return ollama.Client(host=gateway.url, headers={"Authorization": f"Bearer {api_key[1]}"}, timeout=120)


def test_chat_stream_and_not_with_the_engines_counts(native, gateway):
    messages = [{"role": "user", "content": "Name three colors."}]
    answer = native.chat(model=CHAT, messages=messages, options={"num_predict": 16, "temperature": 0})
    assert answer.message.content.strip() and answer.model == CHAT
    assert answer.prompt_eval_count > 5 and 0 < answer.eval_count <= 16

    parts = list(native.chat(model=CHAT, messages=messages, options={"num_predict": 16, "temperature": 0}, stream=True))
    assert "".join(p.message.content for p in parts) == answer.message.content  # temperature 0: the same text
    final = parts[-1]
    assert final.done and (final.prompt_eval_count, final.eval_count) == (answer.prompt_eval_count, answer.eval_count)

    settle_logs(gateway)
    rows = list(
        RequestLog.objects.order_by("created_at").values_list(
            "endpoint", "stream", "prompt_tokens", "completion_tokens"
        )
    )
    counts = (answer.prompt_eval_count, answer.eval_count)
    assert rows == [("ollama.chat", False, *counts), ("ollama.chat", True, *counts)]


def test_embed_and_list(native, gateway):
    vectors = native.embed(model=EMBED, input=["the sky is blue", "grass is green"]).embeddings
    assert len(vectors) == 2 and all(math.isclose(math.fsum(x * x for x in v), 1.0, rel_tol=1e-3) for v in vectors)
    assert {CHAT, EMBED} <= {m.model.removesuffix(":latest") for m in native.list().models}
    settle_logs(gateway)
    log = RequestLog.objects.get(endpoint="ollama.embed")
    assert log.status == 200 and log.prompt_tokens > 0
