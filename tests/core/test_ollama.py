"""The Ollama client (ollamaweb/core/ollama.py)."""

import asyncio
import tracemalloc

import pytest

from ollamaweb.core import ollama
from ollamaweb.core.errors import BackendError
from ollamaweb.core.ollama import NDJSONStream, OllamaClient, close_http_client

PROMPT_CHARS = 2_000_000


def test_a_request_waiting_for_its_answer_holds_one_copy_of_what_it_sent():
    """A long prompt's request may wait seconds for its answer (Ollama evaluating it). orjson's
    output keeps the whole buffer it grew while writing (13 times a long string's length): the
    request that waits holds only the bytes it sent, not that buffer."""
    payload = {"model": "llama3", "messages": [{"role": "user", "content": "x" * PROMPT_CHARS}], "stream": True}

    async def scenario() -> int:
        got_it_all = asyncio.Event()

        async def reads_and_never_answers(reader, writer):
            size = 0
            while size < PROMPT_CHARS and (chunk := await reader.read(1 << 20)):
                size += len(chunk)
            got_it_all.set()
            await asyncio.sleep(30)

        server = await asyncio.start_server(reads_and_never_answers, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        tracemalloc.start()
        try:
            waiting = asyncio.create_task(OllamaClient(url).stream("/api/chat", payload).__aenter__())
            await asyncio.wait_for(got_it_all.wait(), 10)
            snapshot = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
            waiting.cancel()
            server.close()
            await close_http_client()
        ours = [trace for trace in snapshot.traces if "/ollamaweb/" in trace.traceback[-1].filename]
        return sum(trace.size for trace in ours if trace.size >= PROMPT_CHARS // 2)

    held = asyncio.run(scenario())
    assert PROMPT_CHARS <= held < 1.2 * PROMPT_CHARS


class _Reads:
    """A response whose reads return these pieces, then the end."""

    def __init__(self, *pieces: bytes):
        self._pieces = list(pieces)

    async def read_some(self, pause: bool = False) -> bytes:
        return self._pieces.pop(0) if self._pieces else b""


def _batches(*pieces: bytes) -> list:
    async def scenario():
        return [batch async for batch in NDJSONStream(_Reads(*pieces), "http://backend").batches()]

    return asyncio.run(scenario())


def test_lines_are_objects_whatever_reads_they_arrive_in():
    pieces = (b'{"message":{"content":"a', b"b", b'c"},"done":false}\n{"done"', b":true}")
    assert _batches(*pieces) == [[{"message": {"content": "abc"}, "done": False}], [{"done": True}]]


def test_a_line_longer_than_the_limit_is_the_backend_s_error(monkeypatch):
    """A backend that streams without line ends (not Ollama) cannot grow the gateway's memory without bound."""
    monkeypatch.setattr(ollama, "MAX_STREAM_LINE", 1000)
    with pytest.raises(BackendError) as error:
        _batches(b'{"done":false}\n{"response":"', *[b"x" * 300] * 4)
    assert error.value.message == ollama.LONG_LINE
    assert _batches(b'{"response":"' + b"x" * 900, b'"}\n') == [[{"response": "x" * 900}]]
