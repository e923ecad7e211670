"""The HTTP client for Ollama's native API: one connection pool per event loop.

The client is http11.py, a lean HTTP/1.1 client written for this hot path (it replaced httpx2, whose
per-token parsing and pool bookkeeping dominated the relay's CPU; measured in bench/README.md).
Every failure is raised as a gateway BackendError (or NotFound/InvalidRequest for the backend's
404/400), so callers never see an HTTP-library exception.

Streams are read in bulk: `stream()` yields an iterator of NDJSON objects whose `batches()` gives
every object that arrived in one read as one list, so a relay can write them to its client at once.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx2 as httpx
import orjson
from django.conf import settings

from . import http11
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
from .loops import for_this_loop
from .shapes import answer_fits, well_formed

logger = logging.getLogger(__name__)

DEFAULT_PORT = 11434
INVALID_ANSWER = "The model backend sent an invalid response."
INVALID_LINE = "The model backend sent an invalid stream line."
# A stream line longer than this is the backend's error, not memory the gateway keeps growing (a
# backend URL that points at something else that streams). Ollama's longest, /api/generate's last
# line with its context's token ids, is a few MB.
MAX_STREAM_LINE = 64 * 2**20
LONG_LINE = f"The model backend sent a stream line longer than {MAX_STREAM_LINE // 2**20} MB."


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


_pools: dict[asyncio.AbstractEventLoop, http11.Pool] = {}


def http_pool() -> http11.Pool:
    return for_this_loop(
        _pools,
        lambda pool: pool.closed,
        lambda: http11.Pool(
            max_connections=settings.OLLAMA_MAX_CONNECTIONS,
            max_idle=min(settings.OLLAMA_MAX_CONNECTIONS, 256),
            connect_timeout=settings.OLLAMA_CONNECT_TIMEOUT,
            read_timeout=settings.OLLAMA_READ_TIMEOUT,
            pool_timeout=settings.OLLAMA_POOL_TIMEOUT,
        ),
    )


_clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}


def http_client() -> httpx.AsyncClient:
    """An httpx2 client, for the rare management calls that send raw bodies (blob uploads); the
    request path uses http_pool()."""
    timeout = httpx.Timeout(
        connect=settings.OLLAMA_CONNECT_TIMEOUT,
        read=settings.OLLAMA_READ_TIMEOUT,
        write=10.0,
        pool=settings.OLLAMA_POOL_TIMEOUT,
    )
    return for_this_loop(
        _clients, lambda client: client.is_closed, lambda: httpx.AsyncClient(timeout=timeout, trust_env=False)
    )


async def close_http_client():
    pool = _pools.pop(asyncio.get_running_loop(), None)
    if pool is not None:
        await pool.aclose()
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
    if 400 <= status < 500 and status != 499:
        return BackendRejected(message, status=status)
    # 5xx, and what Ollama never answers (a 204, a proxy's redirect): the gateway's 502, whose
    # status and body clients can take (a 204 or a 301 with an error body is neither).
    return BackendError(f"Ollama backend error ({status}): {message}")


def _transport_error(exc: http11.HTTPError | httpx.HTTPError, base_url: str) -> BackendError:
    logger.warning("Ollama at %s: %s: %s", base_url, type(exc).__name__, exc)
    if isinstance(exc, http11.PoolTimeout | httpx.PoolTimeout):
        return BackendBusy("All connections to the model backend are busy; try again shortly.")
    if isinstance(exc, http11.ConnectError | httpx.ConnectError | httpx.ConnectTimeout):
        return BackendUnavailable("The model backend is unreachable; try again later.")
    if isinstance(exc, http11.ReadTimeout | httpx.TimeoutException):
        return BackendTimeout("The model backend did not answer in time.")
    if isinstance(exc, http11.InvalidResponse):  # a backend URL that is not Ollama's, say
        return BackendError("The model backend sent an invalid HTTP response.")
    return BackendError("The model backend closed the connection unexpectedly.")


def _header_lines(headers: dict) -> bytes:
    return "".join(f"{name}: {value}\r\n" for name, value in headers.items()).encode("latin-1")


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
        self._header_bytes = _header_lines(self.headers)

    async def _send(self, method: str, path: str, payload) -> http11.Response:
        pool = http_pool()
        try:
            # No name for the encoded body: the pool lets go of it once the request is put together.
            return await pool.request(
                pool.origin(self.base_url),
                method,
                path,
                self._header_bytes,
                encode(payload) if payload is not None else None,
            )
        except http11.HTTPError as exc:
            raise _transport_error(exc, self.base_url) from exc

    async def _body_of(self, response: http11.Response) -> bytes:
        """The whole body of `response`, which is then closed (a transport error as a gateway error)."""
        try:
            return await response.read()
        except http11.HTTPError as exc:
            raise _transport_error(exc, self.base_url) from exc
        finally:
            response.close()

    async def request(self, method: str, path: str, payload=None) -> dict:
        """Call a non-streaming endpoint and return its JSON object ({} for an empty body)."""
        response = await self._send(method, path, payload)
        body = await self._body_of(response)
        if response.status != 200:
            raise error_for_status(response.status, _error_message(body))
        if not body:
            return {}
        try:
            answer = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise BackendError(INVALID_ANSWER) from exc
        if not answer_fits(path, answer):
            raise BackendError(INVALID_ANSWER)
        return answer

    def stream(self, path: str, payload: dict) -> "OpenStream":
        """Open an NDJSON stream: `async with client.stream(path, payload) as lines`, where `lines`
        is an NDJSONStream.

        Leaving the block (normally, by error or by cancellation) closes the connection at
        once unless the stream was read to its end, which makes Ollama stop generating.
        """
        return OpenStream(self, path, payload)


class OpenStream:
    """The async context manager of OllamaClient.stream: a class, not a generator, since every
    generation enters one (no generator frame, no loop registration of an async generator)."""

    __slots__ = ("_client", "_path", "_payload", "_response")

    def __init__(self, client: OllamaClient, path: str, payload: dict):
        self._client, self._path, self._payload = client, path, payload
        self._response: http11.Response | None = None

    async def __aenter__(self) -> "NDJSONStream":
        client, payload, self._payload = self._client, self._payload, None  # not held once sent
        response = self._response = await client._send("POST", self._path, payload)
        if response.status != 200:
            raise error_for_status(response.status, _error_message(await client._body_of(response)))
        return NDJSONStream(response, client.base_url)

    async def __aexit__(self, *exc_info):
        self._response.close()


def _parsed(lines: list[bytes]) -> tuple[list, BackendError | None]:
    """The objects of complete NDJSON lines, up to the failure that ends them early, if any (a
    line that is not JSON or not of Ollama's shape, or Ollama's {"error": ...})."""
    batch = []
    for line in lines:
        if not line or line.isspace():
            continue
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError:
            return batch, BackendError(INVALID_LINE)
        if type(item) is dict and "error" in item:
            return batch, BackendError(f"Ollama backend error: {item['error']}")
        if not well_formed(item):
            return batch, BackendError(INVALID_LINE)
        batch.append(item)
    return batch, None


class NDJSONStream:
    """The objects of an NDJSON body: `async for obj in stream`, or `async for objs in stream.batches()`.

    A batch is every complete line that arrived in one read from the socket, split at once
    (bytes.split, then orjson per line): no per-line await, no per-line generator step.
    A line {"error": ...} raises BackendError, as Ollama reports failures after the stream started.
    """

    __slots__ = ("_response", "_base_url")

    def __init__(self, response: http11.Response, base_url: str):
        self._response = response
        self._base_url = base_url

    async def batches(self, pause: bool = False) -> AsyncIterator[list[dict]]:
        """With `pause`, the socket is left unread while a fast stream's bytes are gathered
        (http11.Connection._hold): fewer system calls, but the end of the body may be seen up to
        a linger later: for relays, not for a caller that waits for the end."""
        unended: list[bytes] = []  # the pieces of a line whose end has not come yet
        unended_size = 0
        try:
            while data := await self._response.read_some(pause=pause):
                if b"\n" not in data:  # kept in pieces, joined once its end comes: not copied per read
                    unended.append(data)
                    unended_size += len(data)
                    if unended_size > MAX_STREAM_LINE:
                        raise BackendError(LONG_LINE)
                    continue
                if unended:
                    unended.append(data)
                    data, unended, unended_size = b"".join(unended), [], 0
                lines = data.split(b"\n")
                tail = lines.pop()
                if tail:
                    unended, unended_size = [tail], len(tail)
                batch, failure = _parsed(lines)
                data = lines = None  # nothing of this read is held while the next one is awaited
                if batch:
                    yield batch  # what came before a failure is delivered first
                    batch = None
                if failure is not None:
                    raise failure
        except http11.HTTPError as exc:
            raise _transport_error(exc, self._base_url) from exc
        tail = b"".join(unended)
        if tail.strip():
            batch, failure = _parsed([tail])
            if batch:
                yield batch
            if failure is not None:
                raise failure

    async def __aiter__(self) -> AsyncIterator[dict]:
        async for batch in self.batches():
            for item in batch:
                yield item
