"""Consuming one or several native NDJSON streams as a single sequence of (choice index, object)."""

import asyncio
from collections.abc import AsyncIterator

from .ollama import OllamaClient, OpenStream


async def merged_batches(
    backend: OllamaClient, path: str, payloads: list[dict]
) -> AsyncIterator[tuple[int, list[dict]]]:
    """Yield (i, objects) from the streams of `payloads`, interleaved as they arrive.

    The objects of one batch arrived together from call `i` (one socket read), so a relay can
    answer them with one write (and gathers a fast stream's bytes with the socket unread: see
    NDJSONStream.batches). Closing this generator (or cancelling its consumer) closes every
    backend stream at once. Nothing here holds a payload once its request is sent (a stream may
    stay open for minutes, and a payload may hold a long prompt).
    """
    streams = [backend.stream(path, payload) for payload in payloads]
    del payloads
    if len(streams) == 1:
        async with streams.pop() as lines:
            async for batch in lines.batches(pause=True):
                yield 0, batch
                batch = None  # not held while the next one is awaited
        return
    queue: asyncio.Queue = asyncio.Queue()

    async def pump(index: int, stream: OpenStream):
        try:
            async with stream as lines:
                async for batch in lines.batches(pause=True):
                    await queue.put((index, batch, None))
                    batch = None  # not held while the next one is awaited
            await queue.put((index, None, None))
        except Exception as exc:  # handed to the consumer, which re-raises it
            await queue.put((index, None, exc))

    tasks = [asyncio.create_task(pump(i, stream)) for i, stream in enumerate(streams)]
    del streams
    try:
        running = len(tasks)
        while running:
            index, batch, error = await queue.get()
            if error is not None:
                raise error
            if batch is None:
                running -= 1
            else:
                yield index, batch
                batch = None  # not held while the next one is awaited
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def merged_streams(backend: OllamaClient, path: str, payloads: list[dict]) -> AsyncIterator[tuple[int, dict]]:
    """Yield (i, object) from the streams of `payloads`, interleaved as they arrive (see merged_batches)."""
    batches = merged_batches(backend, path, payloads)
    try:
        async for index, batch in batches:
            for item in batch:
                yield index, item
    finally:
        await batches.aclose()


async def gather_or_cancel(coroutines):
    """asyncio.gather that cancels the other calls as soon as one fails."""
    coroutines = list(coroutines)
    if len(coroutines) == 1:  # the common case needs no task
        return [await coroutines[0]]
    tasks = [asyncio.ensure_future(coroutine) for coroutine in coroutines]
    try:
        return await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
