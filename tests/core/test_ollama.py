"""The Ollama client (ollamaweb/core/ollama.py)."""

import asyncio
import tracemalloc

from ollamaweb.core.ollama import OllamaClient, close_http_client

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
