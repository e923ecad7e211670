"""Ollama's own answers (as ollama-api.md documents them) have the shape the gateway checks for;
what it is not is tested end to end in tests/backends/test_failures.py."""

import orjson
import pytest

from ollamaweb.core.shapes import answer_fits, well_formed

OLLAMA_LINES = [
    b'{"model":"llama3.2","created_at":"2026-08-04T08:52:19.385406455Z","message":{"role":"assistant","content":"The"},"done":false}',
    b'{"model":"llama3.2","created_at":"2026-08-04T08:52:19Z","message":{"role":"assistant","content":""},"done":true,'
    b'"done_reason":"stop","total_duration":4883583458,"load_duration":1334875,"prompt_eval_count":26,'
    b'"prompt_eval_duration":342546000,"eval_count":282,"eval_duration":4535599000}',
    b'{"model":"qwen3","created_at":"2026-08-04T08:52:19Z","message":{"role":"assistant","content":"","thinking":"Hm"},"done":false}',
    b'{"model":"llama3.2","created_at":"2026-08-04T08:52:19Z","message":{"role":"assistant","content":"","tool_calls":'
    b'[{"id":"call_ab12cd34","function":{"index":0,"name":"get_weather","arguments":{"city":"Tokyo"}}}]},"done":false}',
    b'{"model":"llama3.2","created_at":"2026-08-04T08:52:19Z","message":{"role":"assistant","content":"Hi"},"done":false,'
    b'"logprobs":[{"token":"Hi","logprob":-0.1}]}',
    b'{"model":"llama3.2","created_at":"2026-08-04T08:52:19Z","response":"The","done":false}',
    b'{"model":"llama3.2","created_at":"2026-08-04T08:52:19Z","response":"","done":true,"done_reason":"stop",'
    b'"context":[1,2,3],"total_duration":10,"prompt_eval_count":0,"eval_count":1}',
    b'{"model":"llama3.2","created_at":"2026-08-04T08:52:19Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"load"}',
    b'{"status":"pulling 6a0746a1ec1a","digest":"sha256:6a07","total":2019377376,"completed":241970}',
]


@pytest.mark.parametrize("line", OLLAMA_LINES)
def test_ollama_s_stream_lines_are_well_formed(line):
    assert well_formed(orjson.loads(line))


OLLAMA_ANSWERS = [
    (
        "/api/embed",
        b'{"model":"all-minilm","embeddings":[[0.1,-0.2],[0.3,0]],"total_duration":5,"prompt_eval_count":2}',
    ),
    ("/api/embed", b'{"model":"all-minilm","embeddings":[]}'),
    (
        "/api/tags",
        b'{"models":[{"name":"llama3.2:latest","model":"llama3.2:latest","modified_at":"2026-08-04T08:52:19Z",'
        b'"size":2019393189,"digest":"a80c","details":{"format":"gguf","families":["llama"]},"capabilities":["completion"]}]}',
    ),
    ("/api/tags", b'{"models":[]}'),
    (
        "/api/ps",
        b'{"models":[{"name":"mistral:latest","model":"mistral:latest","size":5137025024,"digest":"2ae6",'
        b'"details":{},"expires_at":"2026-08-04T14:38:31.83753-07:00","size_vram":5137025024,"context_length":4096}]}',
    ),
    (
        "/api/show",
        b'{"license":"MIT","modelfile":"FROM x","parameters":"stop x","template":"{{ .Prompt }}",'
        b'"details":{"family":"llama"},"messages":[],"model_info":{"general.architecture":"llama"},"capabilities":["tools"]}',
    ),
    ("/api/version", b'{"version":"0.32.6"}'),
]


@pytest.mark.parametrize(("path", "answer"), OLLAMA_ANSWERS, ids=[path for path, _ in OLLAMA_ANSWERS])
def test_ollama_s_answers_fit(path, answer):
    assert answer_fits(path, orjson.loads(answer))


@pytest.mark.parametrize("value", [True, -1, "9", [1], 2**63, 1e300, 9.0], ids=repr)
@pytest.mark.parametrize("field", ["eval_count", "eval_duration"])
def test_a_count_or_duration_is_an_integer_that_is_not_negative(field, value):
    """A float would be answered and charged nothing: the charge reads integers only."""
    assert not well_formed({"done": True, field: value})
    assert well_formed({"done": True, field: 9})
