"""ollama-js (the `ollama` npm package) under Node.js against the native /api routes (tests/js/ollama_native.mjs)."""

import pytest

from ollamaweb.usage.models import RequestLog
from tests.conftest import settle_logs
from tests.fake_ollama import Reply


@pytest.mark.node
def test_ollama_js(run_js, gateway, api_key, fake_ollama):
    fake_ollama.reply = Reply(content="This is a test.", prompt_eval_count=14, eval_count=5)
    fake_ollama.add_model("qwen3", loaded=True)
    out = run_js("ollama_native.mjs", OLLAMAWEB_HOST=gateway.url, OLLAMAWEB_API_KEY=api_key[1])

    assert out["chat"]["message"] == {"role": "assistant", "content": "This is a test."}
    assert (out["chat"]["model"], out["chat"]["prompt_eval_count"], out["chat"]["eval_count"]) == ("llama3", 14, 5)
    assert "".join(p["message"]["content"] for p in out["parts"]) == "This is a test."
    assert out["parts"][-1]["done"] is True and out["parts"][-1]["eval_count"] == 5
    assert out["generate"]["response"] == "This is a test." and out["generate"]["done"] is True
    assert len(out["embed"]["embeddings"]) == 2 and len(out["embed"]["embeddings"][0]) == 384
    assert sorted(m["model"] for m in out["list"]["models"]) == ["all-minilm:latest", "llama3:latest", "qwen3:latest"]
    assert "tools" in out["show"]["capabilities"]
    assert [m["model"] for m in out["ps"]["models"]] == ["qwen3:latest"]
    assert out["denied"]["name"] == "ResponseError" and out["denied"]["status"] == 403
    assert "may not manage models" in out["denied"]["message"]
    assert out["unauthenticated"]["status"] == 401

    settle_logs(gateway)
    rows = list(
        RequestLog.objects.order_by("created_at").values_list("endpoint", "status", "stream", "completion_tokens")
    )
    assert rows[:7] == [
        ("ollama.chat", 200, False, 5),
        ("ollama.chat", 200, True, 5),
        ("ollama.generate", 200, False, 5),
        ("ollama.embed", 200, False, 0),
        ("ollama.tags", 200, False, 0),
        ("ollama.show", 200, False, 0),
        ("ollama.ps", 200, False, 0),
    ]
    assert rows[7][:2] == ("ollama.pull", 403) and rows[8][:2] == ("ollama.tags", 401) and len(rows) == 9
