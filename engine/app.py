"""The ASGI application: routing, and error answers shaped like Ollama's."""

from __future__ import annotations

import asyncio

from engine import chat, embed, info
from engine.concurrency import CancelToken, ClientGone
from engine.http import (
    Request,
    StreamResponse,
    as_api_error,
    error_response,
    read_body,
    send_response,
    send_stream,
    text_response,
    watch_disconnect,
)
from engine.runtime import Runtime

STATS_PATH = "/_engine/stats"

ROUTES = {
    "/": {"GET": info.root},
    "/api/version": {"GET": info.version},
    "/api/tags": {"GET": info.tags},
    "/api/ps": {"GET": info.ps},
    "/api/show": {"POST": info.show},
    "/api/chat": {"POST": chat.chat},
    "/api/generate": {"POST": chat.generate},
    "/api/embed": {"POST": embed.embed},
    "/api/embeddings": {"POST": embed.embeddings},
    STATS_PATH: {"GET": info.stats},
}


class EngineApp:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        methods = ROUTES.get(scope["path"])
        head = scope["method"] == "HEAD"
        handler = methods and methods.get("GET" if head else scope["method"])
        if handler is None:  # gin's plain-text answers, as Ollama gives them
            if methods is None:
                await send_response(send, text_response("404 page not found", 404))
            else:
                await send_response(send, text_response("405 method not allowed", 405))
            return
        try:
            request = Request(await read_body(receive), CancelToken())
        except ClientGone:
            return
        watcher = asyncio.create_task(watch_disconnect(receive, request.cancel))
        try:
            await self._respond(handler, request, send, head)
        except ClientGone:
            pass
        finally:
            watcher.cancel()

    async def _respond(self, handler, request: Request, send, head: bool) -> None:
        try:
            response = await handler(self.runtime, request)
        except ClientGone:
            raise
        except Exception as exc:
            response = error_response(as_api_error(exc))
        if isinstance(response, StreamResponse):
            await send_stream(send, response)
        else:
            await send_response(send, response, include_body=not head)
