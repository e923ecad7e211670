"""ASGI plumbing: read a request, send JSON, plain-text or NDJSON responses."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass

from engine.concurrency import CancelToken, ClientGone
from engine.protocol import APIError

log = logging.getLogger("engine")

JSON_TYPE = b"application/json; charset=utf-8"
NDJSON_TYPE = b"application/x-ndjson"
TEXT_TYPE = b"text/plain; charset=utf-8"


@dataclass
class Request:
    body: bytes
    cancel: CancelToken  # set when the client disconnects

    def json(self) -> dict:
        if not self.body.strip():
            raise APIError(400, "missing request body")
        try:
            data = json.loads(self.body)
        except ValueError as exc:
            raise APIError(400, f"invalid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise APIError(400, "request body must be a JSON object")
        return data


@dataclass
class Response:
    status: int
    body: bytes
    content_type: bytes


@dataclass
class StreamResponse:
    """NDJSON lines; an APIError before the first line still gets its own status."""

    lines: AsyncIterator[dict]


def encode(data: object) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def json_response(data: object, status: int = 200) -> Response:
    return Response(status, encode(data), JSON_TYPE)


def text_response(text: str, status: int = 200) -> Response:
    return Response(status, text.encode(), TEXT_TYPE)


def error_response(error: APIError) -> Response:
    return json_response({"error": error.message}, error.status)


async def read_body(receive) -> bytes:
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        body += message.get("body", b"")
        if not message.get("more_body"):
            return bytes(body)


async def watch_disconnect(receive, token: CancelToken) -> None:
    """Cancel the token when the client goes away (uvicorn reports `http.disconnect`)."""
    while (await receive())["type"] != "http.disconnect":
        pass
    token.cancel()


async def _start(send, status: int, content_type: bytes, length: int | None = None) -> None:
    headers = [(b"content-type", content_type)]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})


async def send_response(send, response: Response, include_body: bool = True) -> None:
    await _start(send, response.status, response.content_type, len(response.body))
    await send({"type": "http.response.body", "body": response.body if include_body else b""})


def as_api_error(exc: Exception) -> APIError:
    """Unexpected exceptions are logged and answered as 500s."""
    if isinstance(exc, APIError):
        return exc
    log.error("unexpected error", exc_info=exc)
    return APIError(500, str(exc))


async def send_stream(send, stream: StreamResponse) -> None:
    """One JSON object and a newline per line, each sent (flushed) on its own."""
    async with aclosing(stream.lines) as lines:
        try:
            first = await anext(lines, None)
        except ClientGone:
            raise
        except Exception as exc:
            await send_response(send, error_response(as_api_error(exc)))
            return
        await _start(send, 200, NDJSON_TYPE)
        try:
            if first is not None:
                await send({"type": "http.response.body", "body": encode(first) + b"\n", "more_body": True})
                async for line in lines:
                    await send({"type": "http.response.body", "body": encode(line) + b"\n", "more_body": True})
        except Exception as exc:  # the status is sent: report in-band, as Ollama does
            error = {"error": as_api_error(exc).message}
            await send({"type": "http.response.body", "body": encode(error) + b"\n", "more_body": True})
        await send({"type": "http.response.body", "body": b""})
