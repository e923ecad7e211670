"""ollama-js (the `ollama` npm package) under Node.js against the native /api routes (tests/js/ollama_native.mjs)."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from ollamaweb.usage.models import RequestLog
from tests.api.test_reference_examples import local_env
from tests.conftest import settle_logs
from tests.fake_ollama import Reply

JS_DIR = Path(__file__).resolve().parents[1] / "js"


@pytest.fixture(scope="session")
def ollama_js():
    """Node with tests/js's pinned `ollama` package installed (once; later runs reuse it)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip(f"SKIPPED: ollama-js NOT run: node ({node or 'missing'}) and npm ({npm or 'missing'}) are required")
    wanted = json.loads((JS_DIR / "package.json").read_text())["dependencies"]
    stale = [
        name
        for name, version in wanted.items()
        if not (JS_DIR / "node_modules" / name / "package.json").exists()
        or json.loads((JS_DIR / "node_modules" / name / "package.json").read_text())["version"] != version
    ]
    if stale:
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=JS_DIR,
            capture_output=True,
            text=True,
            timeout=300,
            env=local_env(),
        )
        assert result.returncode == 0, f"npm ci failed:\n{result.stdout}\n{result.stderr}"
    return node


@pytest.mark.node
def test_ollama_js(ollama_js, gateway, api_key, fake_ollama):
    fake_ollama.reply = Reply(content="This is a test.", prompt_eval_count=14, eval_count=5)
    fake_ollama.add_model("qwen3", loaded=True)
    result = subprocess.run(
        [ollama_js, "ollama_native.mjs"],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        env=local_env(OLLAMAWEB_HOST=gateway.url, OLLAMAWEB_API_KEY=api_key[1]),
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)

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
