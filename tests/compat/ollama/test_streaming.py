"""The native NDJSON stream translator (pure)."""

import orjson

from compat.ollama.streaming import MEDIA_TYPE, NativeStream, error_line


def test_each_chunk_is_one_line_with_the_requested_model():
    stream = NativeStream("gpt-4o")
    assert stream.media_type == MEDIA_TYPE == "application/x-ndjson"
    first = {"model": "qwen3:8b", "created_at": "t", "message": {"role": "assistant", "content": "Hel"}, "done": False}
    last = {
        "model": "qwen3:8b",
        "created_at": "t",
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": "stop",
        "total_duration": 4883583458,
        "load_duration": 1334875,
        "prompt_eval_count": 26,
        "prompt_eval_duration": 342546000,
        "eval_count": 282,
        "eval_duration": 4535599000,
    }
    out = stream.feed(0, first) + stream.feed(0, last) + stream.end(26, 282)
    lines = out.split(b"\n")
    assert lines[-1] == b"" and len(lines) == 3
    assert orjson.loads(lines[0]) == {**first, "model": "gpt-4o"}
    assert orjson.loads(lines[1]) == {**last, "model": "gpt-4o"}
    assert list(orjson.loads(lines[0])) == list(first)  # field order as Ollama sends it


def test_generate_chunks_keep_context_and_thinking():
    stream = NativeStream("llama3")
    chunk = {"model": "llama3:latest", "response": "", "thinking": "hmm", "done": True, "context": [1, 2]}
    assert orjson.loads(stream.feed(0, chunk)) == {**chunk, "model": "llama3"}


def test_an_error_after_the_start_is_an_error_line():
    assert error_line("boom") == b'{"error":"boom"}\n'
