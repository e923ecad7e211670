"""Consuming one or several native NDJSON streams as a single sequence of (choice index, object)."""

import asyncio
from collections.abc import AsyncIterator

from .ollama import OllamaClient


async def merged_streams(backend: OllamaClient, path: str, payloads: list[dict]) -> AsyncIterator[tuple[int, dict]]:
    """Yield (i, object) from the streams of `payloads`, interleaved as they arrive.

    Closing this generator (or cancelling its consumer) closes every backend stream at once.
    """
    if len(payloads) == 1:
        async with backend.stream(path, payloads[0]) as lines:
            async for item in lines:
                yield 0, item
        return
    queue: asyncio.Queue = asyncio.Queue()

    async def pump(index: int, payload: dict):
        try:
            async with backend.stream(path, payload) as lines:
                async for item in lines:
                    await queue.put((index, item, None))
            await queue.put((index, None, None))
        except Exception as exc:  # handed to the consumer, which re-raises it
            await queue.put((index, None, exc))

    tasks = [asyncio.create_task(pump(i, payload)) for i, payload in enumerate(payloads)]
    try:
        running = len(tasks)
        while running:
            index, item, error = await queue.get()
            if error is not None:
                raise error
            if item is None:
                running -= 1
            else:
                yield index, item
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


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
