"""The HTTP client for Ollama's native API: one pooled AsyncClient per event loop.

It is httpx2 (httpx's successor, which the openai SDK itself uses) rather than httpx 0.28: httpx's
connection pool costs CPU per request that grows with the number of open connections (measured in
bench/README.md: the gateway's CPU per request at concurrency 64 halved with httpx2). The API is
the same. Every failure is raised as a gateway BackendError (or NotFound/InvalidRequest for the
backend's 404/400), so callers never see an HTTP-library exception.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import httpx2 as httpx
import orjson
from django.conf import settings

from .errors import (
    BackendBusy,
    BackendError,
    BackendRejected,
    BackendTimeout,
    BackendUnavailable,
    GatewayError,
    InvalidRequest,
    NotFound,
)

logger = logging.getLogger(__name__)

DEFAULT_PORT = 11434


def parse_ollama_host(value: str) -> list[str]:
    """Base URLs from OLLAMA_HOST: comma-separated, each `host`, `host:port` or a URL (as Ollama's CLI)."""
    urls = []
    for item in value.split(","):
        item = item.strip().rstrip("/")
        if not item:
            continue
        if "://" in item:
            scheme = item.split("://", 1)[0].lower()
            default_port = 443 if scheme == "https" else 80
        else:
            item, scheme, default_port = "http://" + item, "http", DEFAULT_PORT
        parts = urlsplit(item)
        host = parts.hostname or "127.0.0.1"
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        urls.append(f"{scheme}://{host}:{parts.port or default_port}{parts.path}")
    return urls or [f"http://127.0.0.1:{DEFAULT_PORT}"]


_clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}


def http_client() -> httpx.AsyncClient:
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        for stale in [other for other in _clients if other.is_closed()]:
            del _clients[stale]
        client = httpx.AsyncClient(
            timeout=httpx.Timeout(
                connect=settings.OLLAMA_CONNECT_TIMEOUT,
                read=settings.OLLAMA_READ_TIMEOUT,
                write=10.0,
                pool=settings.OLLAMA_POOL_TIMEOUT,
            ),
            limits=httpx.Limits(
                max_connections=settings.OLLAMA_MAX_CONNECTIONS,
                max_keepalive_connections=min(settings.OLLAMA_MAX_CONNECTIONS, 256),
            ),
            trust_env=False,
        )
        _clients[loop] = client
    return client


async def close_http_client():
    client = _clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()


def _error_message(body: bytes) -> str:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode(errors="replace").strip() or "empty response"
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return data["error"]
    return body.decode(errors="replace").strip()


def error_for_status(status: int, message: str) -> GatewayError:
    if status == 404:
        return NotFound(message)
    if status == 400:
        return InvalidRequest(message)
    if status == 503:
        return BackendBusy(message)
    if status >= 500 or status == 499:
        return BackendError(f"Ollama backend error ({status}): {message}")
    return BackendRejected(message, status=status)


def _transport_error(exc: httpx.HTTPError, base_url: str) -> BackendError:
    logger.warning("Ollama at %s: %s: %s", base_url, type(exc).__name__, exc)
    if isinstance(exc, httpx.PoolTimeout):
        return BackendBusy("All connections to the model backend are busy; try again shortly.")
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return BackendUnavailable("The model backend is unreachable; try again later.")
    if isinstance(exc, httpx.TimeoutException):
        return BackendTimeout("The model backend did not answer in time.")
    return BackendError("The model backend closed the connection unexpectedly.")


def encode(payload) -> bytes:
    """The JSON of a request; a value JSON cannot carry (an integer beyond 64 bits, nesting beyond
    orjson's limit) is the client's error, not the server's."""
    try:
        return orjson.dumps(payload)
    except orjson.JSONEncodeError as exc:
        raise InvalidRequest(f"The request holds a value the model backend cannot take: {exc}.") from None


class OllamaClient:
    def __init__(self, base_url: str, headers: dict | None = None):
        self.base_url = base_url.rstrip("/")
        self.headers = {"Content-Type": "application/json", **(headers or {})}

    async def request(self, method: str, path: str, payload=None) -> dict:
        """Call a non-streaming endpoint and return its JSON object ({} for an empty body)."""
        content = encode(payload) if payload is not None else None
        try:
            response = await http_client().request(method, self.base_url + path, content=content, headers=self.headers)
        except httpx.HTTPError as exc:
            raise _transport_error(exc, self.base_url) from exc
        if response.status_code != 200:
            raise error_for_status(response.status_code, _error_message(response.content))
        if not response.content:
            return {}
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise BackendError("The model backend sent an invalid response.") from exc

    @asynccontextmanager
    async def stream(self, path: str, payload: dict) -> AsyncIterator[AsyncIterator[dict]]:
        """Open an NDJSON stream; yields an iterator of its objects.

        Leaving the block (normally, by error or by cancellation) closes the connection at
        once, which makes Ollama stop generating.
        """
        request = http_client().build_request(
            "POST", self.base_url + path, content=encode(payload), headers=self.headers
        )
        try:
            response = await http_client().send(request, stream=True)
        except httpx.HTTPError as exc:
            raise _transport_error(exc, self.base_url) from exc
        try:
            if response.status_code != 200:
                try:
                    body = await response.aread()
                except httpx.HTTPError as exc:
                    raise _transport_error(exc, self.base_url) from exc
                raise error_for_status(response.status_code, _error_message(body))
            yield self._lines(response)
        finally:
            await response.aclose()

    async def _lines(self, response: httpx.Response) -> AsyncIterator[dict]:
        try:
            async for line in response.aiter_lines():
                if not line.strip():
                    continue
                try:
                    item = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    raise BackendError("The model backend sent an invalid stream line.") from exc
                if isinstance(item, dict) and "error" in item:
                    raise BackendError(f"Ollama backend error: {item['error']}")
                yield item
        except httpx.HTTPError as exc:
            raise _transport_error(exc, self.base_url) from exc
