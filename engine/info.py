"""The endpoints that describe the engine and its models."""

from __future__ import annotations

from engine import OLLAMA_VERSION, protocol
from engine.http import Request, Response, json_response, text_response
from engine.protocol import APIError
from engine.runtime import Runtime


async def root(runtime: Runtime, request: Request) -> Response:
    return text_response("Ollama is running")


async def version(runtime: Runtime, request: Request) -> Response:
    return json_response({"version": OLLAMA_VERSION})


async def tags(runtime: Runtime, request: Request) -> Response:
    return json_response({"models": [protocol.tag_entry(card) for card in runtime.catalog.values()]})


async def show(runtime: Runtime, request: Request) -> Response:
    body = request.json()
    name = body.get("model") or body.get("name")
    if not isinstance(name, str) or not name:
        raise APIError(400, "model is required")
    return json_response(protocol.show_body(runtime.find(name)))


async def ps(runtime: Runtime, request: Request) -> Response:
    entries = [protocol.ps_entry(card, context_length) for card, context_length in runtime.loaded()]
    return json_response({"models": entries})


async def stats(runtime: Runtime, request: Request) -> Response:
    return json_response(runtime.stats.as_dict())
