"""A programmable fake Ollama server for tests.

It speaks Ollama's native HTTP API (NDJSON streaming, nanosecond metrics, ``{"error": ...}``
bodies) on 127.0.0.1 from a background thread, and fails on cue through :class:`Reply`::

    from tests.fake_ollama import FakeOllama, Reply

    with FakeOllama(version="0.33.0") as fake:
        fake.add_model("llama3")
        fake.reply = Reply(content="Hi!", token_delay=0.01)
        ...  # point the code under test at fake.url
        fake.wait_for(lambda: fake.completed == 1)

Run it by hand from the repository root (prints its URL, Ctrl-C stops it)::

    python -m tests.fake_ollama --port 11434 --model llama3 --model all-minilm

The HTTP/1.1 server is a small asyncio protocol rather than uvicorn: losing a connection
cancels the task answering on it (so a disconnect stops generation at once and is counted),
a response can be cut mid-body, and ``stop()`` returns at once even with hung requests.

Configuration may change while the server runs: plain attributes (``reply``, ``responder``,
``busy``, ``pull_error``, ``version``) are swapped atomically, everything else takes a lock.

The benchmark (bench/run.py) uses this same fake, in its own process with uvloop and without
recording requests (``--bench``)::

    python -m tests.fake_ollama --bench --port 0 [--ttft-ms 0] [--tps 0] [--tokens 16] [--ready-file F]

It prints ``LISTENING <port>``. In bench mode, /api/chat for a model named ``bench...`` takes a
fast path (pre-encoded lines, no fault injection) whose generation is set by the command line and,
per request, by the model name: dash-separated ``ttft<ms>``, ``tps<tokens per second>`` and
``n<tokens>`` parts, e.g. ``bench-ttft5-tps2000-n1000`` (``tps0`` = no pacing); ``options.num_predict``
caps the count. Tokens are paced against an absolute schedule (start + ttft + i/tps), so the rate is
exact even though the event loop's timers have millisecond resolution, and each token's text is
``"Tk "`` so a load generator can count tokens without parsing JSON. Alone it serves tens of
thousands of small chat requests per second on one core (bench/README.md, scenario 0).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email.utils
import hashlib
import http
import json
import logging
import math
import random
import re
import socket
import string
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, Self

logger = logging.getLogger(__name__)

JSON_TYPE = "application/json; charset=utf-8"
NDJSON_TYPE = "application/x-ndjson"
BUSY_MESSAGE = "server busy, please try again.  maximum pending requests exceeded"
INFERENCE_PATHS = frozenset({"/api/chat", "/api/generate", "/api/embed", "/api/embeddings"})
# Ollama (Go's net/http) listens with the system's somaxconn; 4096 on current Linux.
LISTEN_BACKLOG = 4096
LEGACY_BEFORE = (0, 7)  # older versions: no tool-call ids, no capabilities, no think/logprobs

_TOKEN_RE = re.compile(r"\s*(?:\w+|[^\w\s])|\s+")
_BASE64_CHARS = frozenset(string.ascii_letters + string.digits + "+/=")
_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_GO_ESCAPE_RE = re.compile("[<>&\u2028\u2029]")


@dataclass
class Reply:
    """What /api/chat and /api/generate answer, including faults to inject.

    A fault set to N fires once N tokens were streamed, or before the final line when the
    reply has fewer tokens; it replaces everything after that point.
    """

    content: str = "Hello there, friend!"
    tokens: list[str] | None = None  # explicit split of the content; default: word-ish pieces
    thinking: str = ""  # streamed as thinking deltas before the content
    tool_calls: list[dict] | None = None  # [{"name", "arguments"}]: one chunk, ids unless version < 0.7
    done_reason: str = "stop"
    prompt_eval_count: int | None = None  # default: words over the prompt + 4 per message
    eval_count: int | None = None  # default: number of tokens emitted
    logprobs: bool = True  # attach logprobs when the request asks for them
    omit_zero_metrics: bool = False  # drop zero counts/durations, as Ollama's omitempty does
    # Fault injection.
    status: int | None = None  # answer this HTTP status with {"error": error}, before any output
    error: str = "something went wrong"
    error_after: int | None = None  # stream N tokens, then an NDJSON {"error": error} line
    token_delay: float = 0.0  # seconds between tokens
    first_token_delay: float = 0.0  # seconds before the first line (model load)
    hang_after: int | None = None  # stream N tokens, then hang until the client leaves
    disconnect_after: int | None = None  # stream N tokens, then close the TCP connection

    def content_tokens(self) -> list[str]:
        """The content as streamed: ``tokens`` if given, else word-ish pieces keeping spaces."""
        return list(self.tokens) if self.tokens is not None else _split_tokens(self.content)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    json: Any  # the decoded body, None when empty or not JSON
    headers: dict[str, str]  # lower-cased names


@dataclass(frozen=True)
class FakeModel:
    """A model the fake serves; see :meth:`FakeOllama.add_model`."""

    name: str
    family: str
    parameter_size: str
    quantization_level: str
    capabilities: tuple[str, ...]
    size: int
    modified_at: str
    context_length: int
    embedding_length: int
    loaded: bool

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.name.encode()).hexdigest()

    def details(self) -> dict:
        return {
            "parent_model": "",
            "format": "gguf",
            "family": self.family,
            "families": [self.family],
            "parameter_size": self.parameter_size,
            "quantization_level": self.quantization_level,
        }


class _HttpError(Exception):
    """Answer the request with ``{"error": message}`` and this status."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


# --- Small helpers -----------------------------------------------------------------------


def _split_tokens(text: str) -> list[str]:
    return _TOKEN_RE.findall(text)


def _full_name(name: str) -> str:
    """The name with Ollama's implicit ``:latest`` tag."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def _registry_name(name: str) -> str:
    """The fully qualified name Ollama prints in capability errors."""
    parts = _full_name(name).split("/")
    prefix = {1: ["registry.ollama.ai", "library"], 2: ["registry.ollama.ai"]}.get(len(parts), [])
    return "/".join(prefix + parts)


def _default_capabilities(name: str) -> tuple[str, ...]:
    base = name.rsplit("/", 1)[-1]
    if base.startswith("all-minilm") or "embed" in base:
        return ("embedding",)
    return ("completion", "tools", "vision")


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version.split("-")[0])[:3])


def _rfc3339(ns: int | None = None) -> str:
    """UTC time formatted like Go's RFC3339Nano (nanoseconds, trailing zeros trimmed)."""
    seconds, fraction = divmod(time.time_ns() if ns is None else ns, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    digits = f"{fraction:09d}".rstrip("0")
    return f"{stamp}.{digits}Z" if digits else f"{stamp}Z"


def _go_json(obj: Any) -> bytes:
    """Compact JSON escaped like Go's encoding/json (HTML characters as \\u00XX)."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return _GO_ESCAPE_RE.sub(lambda match: _GO_ESCAPES[match.group()], text).encode()


try:
    from orjson import dumps as _fast_dumps
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - the project venv has orjson
    _fast_loads = json.loads
    _fast_dumps = _go_json


def _decode_json(raw: bytes) -> Any:
    try:
        return _fast_loads(raw) if raw.strip() else None
    except ValueError:
        return None


def _is_zero_keep_alive(value: Any) -> bool:
    return value is not None and str(value).rstrip("smh") in {"0", "0.0"}


def _words(*texts: Any) -> int:
    return sum(len(str(text or "").split()) for text in texts)


# --- Request validation ------------------------------------------------------------------


def _check_base64(images: Iterable[Any]) -> None:
    """Reject images the way Go's base64 decoder does (e.g. a ``data:`` URL prefix)."""
    for image in images:
        for index, char in enumerate(str(image)):
            if char not in _BASE64_CHARS:
                raise _HttpError(400, f"illegal base64 data at input byte {index}")


def _check_legacy_tools(tools: Any) -> None:
    """Old Ollama decoded a property's ``type`` into a Go string, so a list fails."""
    for tool in tools or []:
        properties = ((tool.get("function") or {}).get("parameters") or {}).get("properties") or {}
        if any(isinstance(spec, dict) and isinstance(spec.get("type"), list) for spec in properties.values()):
            raise _HttpError(
                400,
                "json: cannot unmarshal array into Go struct field "
                ".tools.function.parameters.properties.type of type string",
            )


def _check_top_logprobs(body: dict) -> None:
    top = body.get("top_logprobs") or 0
    if not isinstance(top, int) or not 0 <= top <= 20:
        raise _HttpError(400, "top_logprobs must be between 0 and 20")


def _check_capabilities(model: FakeModel, requested: str, body: dict, images: list, legacy: bool) -> None:
    if body.get("tools") and "tools" not in model.capabilities:
        raise _HttpError(400, f"{_registry_name(model.name)} does not support tools")
    if images and "vision" not in model.capabilities:
        raise _HttpError(400, f"{_registry_name(model.name)} does not support vision")
    if not legacy and body.get("think") not in (None, False) and "thinking" not in model.capabilities:
        raise _HttpError(400, f'"{requested}" does not support thinking')


def _embed_inputs(value: Any) -> list[str]:
    """``input`` as a list of strings; token ids (or anything else) are rejected like Ollama."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    raise _HttpError(400, "invalid input type")


# --- Generation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """What one completion emits once num_predict, stop strings and think are applied."""

    pieces: list[tuple[str, str]]  # ("thinking" | "content", text) in emission order
    tool_calls: list[dict]
    done_reason: str


def _plan(reply: Reply, options: dict, *, emit_thinking: bool, tool_call_ids: bool) -> _Plan:
    content = reply.content_tokens()
    cut = _cut_at_stop(content, _stop_strings(options))
    thinking = [("thinking", token) for token in _split_tokens(reply.thinking)] if emit_thinking else []
    pieces = thinking + [("content", token) for token in (content if cut is None else cut)]
    limit = options.get("num_predict")
    if isinstance(limit, int) and 0 <= limit < len(pieces):
        return _Plan(pieces[:limit], [], "length")
    if cut is not None:
        return _Plan(pieces, [], "stop")
    return _Plan(pieces, _render_tool_calls(reply.tool_calls or [], with_ids=tool_call_ids), reply.done_reason)


def _stop_strings(options: dict) -> list[str]:
    stop = options.get("stop") or []
    return [stop] if isinstance(stop, str) else [item for item in stop if isinstance(item, str) and item]


def _cut_at_stop(tokens: list[str], stops: list[str]) -> list[str] | None:
    """The tokens up to (not including) the first stop string, or None when none occurs."""
    text = "".join(tokens)
    positions = [text.find(stop) for stop in stops if stop in text]
    if not positions:
        return None
    end, kept, consumed = min(positions), [], 0
    for token in tokens:
        if consumed >= end:
            break
        kept.append(token[: end - consumed])
        consumed += len(token)
    return kept


def _render_tool_calls(calls: list[dict], *, with_ids: bool) -> list[dict]:
    rendered = []
    for index, call in enumerate(calls):
        function = {"index": index, "name": call["name"], "arguments": call.get("arguments", {})}
        rendered.append({"id": _tool_call_id(), "function": function} if with_ids else {"function": function})
    return rendered


def _tool_call_id() -> str:
    return "call_" + "".join(random.choices(string.ascii_lowercase + string.digits, k=8))


def _logprob(token: str, position: int, top: int) -> dict:
    """Deterministic logprobs in Ollama's format; the emitted token ranks first."""
    value = -0.05 * (1 + position % 7)
    entry = _token_logprob(token, value)
    if top:
        entry["top_logprobs"] = [_token_logprob(token, value)] + [
            _token_logprob(f"alt{rank}", value - rank) for rank in range(1, top)
        ]
    return entry


def _token_logprob(token: str, value: float) -> dict:
    entry: dict[str, Any] = {"token": token, "logprob": round(value, 4)}
    if token:
        entry["bytes"] = list(token.encode())
    return entry


def _metrics(reply: Reply, prompt_tokens: int, eval_tokens: int) -> dict:
    """Plausible durations (ns) derived from the reply's delays; total = load + prompt + eval."""
    load = 1_000_000 + int(reply.first_token_delay * 1e9)
    prompt_eval = 200_000 * max(prompt_tokens, 1)
    eval_ = (10_000_000 + int(reply.token_delay * 1e9)) * max(eval_tokens, 1)
    metrics = {
        "total_duration": load + prompt_eval + eval_,
        "load_duration": load,
        "prompt_eval_count": prompt_tokens,
        "prompt_eval_duration": prompt_eval,
        "eval_count": eval_tokens,
        "eval_duration": eval_,
    }
    return {key: value for key, value in metrics.items() if value} if reply.omit_zero_metrics else metrics


def _raw_embedding(text: str, length: int) -> list[float]:
    """A pseudo-random vector seeded by the text: the same text always gives the same vector."""
    rng = random.Random(hashlib.sha256(text.encode()).digest())
    return [rng.uniform(-1.0, 1.0) for _ in range(length)]


def _normalise(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(value * value for value in vector)) or 1.0
    return [value / norm for value in vector]


def _embedding(text: str, length: int, dimensions: Any) -> list[float]:
    vector = _normalise(_raw_embedding(text, length))
    if isinstance(dimensions, int) and 0 < dimensions < length:
        return _normalise(vector[:dimensions])
    return vector


def _pull_progress(name: str, error: str | None) -> list[dict]:
    """Progress lines like ``ollama pull``: manifest, two layers in steps, then success."""
    lines: list[dict] = [{"status": "pulling manifest"}]
    if error:
        return [*lines, {"error": error}]
    for layer, total in enumerate((2_019_377_376, 7_020)):
        digest = hashlib.sha256(f"{name}#{layer}".encode()).hexdigest()
        status = {"status": f"pulling {digest[:12]}", "digest": f"sha256:{digest}", "total": total}
        lines.append(status)
        lines += [{**status, "completed": total * step // 3} for step in (1, 2, 3)]
    steps = ("verifying sha256 digest", "writing manifest", "removing unused layers", "success")
    return lines + [{"status": step} for step in steps]


# --- HTTP/1.1 plumbing -----------------------------------------------------------------------


@dataclass(frozen=True)
class _HttpRequest:
    method: str
    path: str
    version: str
    headers: dict[str, str]
    body: bytes

    @property
    def keep_alive(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        return connection == "keep-alive" if self.version == "HTTP/1.0" else connection != "close"


def _parse_request(buffer: bytearray) -> _HttpRequest | None:
    """Pop one complete request off the buffer; None when more bytes are needed.

    Raises ValueError on a malformed request.
    """
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    request_line, *header_lines = buffer[:head_end].decode("latin-1").split("\r\n")
    method, target, version = request_line.split(" ")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        parsed = _parse_chunked(buffer, head_end + 4)
    else:
        end = head_end + 4 + int(headers.get("content-length", "0"))
        parsed = (bytes(buffer[head_end + 4 : end]), end) if len(buffer) >= end else None
    if parsed is None:
        return None
    body, consumed = parsed
    del buffer[:consumed]
    return _HttpRequest(method, target.split("?", 1)[0], version, headers, body)


def _parse_chunked(buffer: bytearray, position: int) -> tuple[bytes, int] | None:
    """Decode a chunked body starting at position: (body, end offset), or None if incomplete."""
    body = bytearray()
    while (line_end := buffer.find(b"\r\n", position)) >= 0:
        size = int(buffer[position:line_end].split(b";")[0], 16)
        if size == 0:
            trailer_end = buffer.find(b"\r\n\r\n", line_end)
            return (bytes(body), trailer_end + 4) if trailer_end >= 0 else None
        chunk_start = line_end + 2
        if len(buffer) < chunk_start + size + 2:
            return None
        body += buffer[chunk_start : chunk_start + size]
        position = chunk_start + size + 2
    return None


_PHRASES = {status.value: status.phrase for status in http.HTTPStatus}
_date_cache: list = [0, ""]


def _chunk(data: bytes) -> bytes:
    """`data` framed as one chunk of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


_LAST_CHUNK = b"0\r\n\r\n"


def _http_date() -> str:
    """The Date header's value, formatted once per second."""
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[:] = [now, email.utils.formatdate(now, usegmt=True)]
    return _date_cache[1]


class _HttpWriter:
    """Writes one response: a whole body, or a chunked NDJSON stream (headers on first line)."""

    def __init__(self, transport: asyncio.Transport, request: _HttpRequest, can_write: asyncio.Event | None = None):
        self._transport = transport
        self._can_write = can_write  # cleared while the transport's buffer is full
        self._head_only = request.method == "HEAD"
        self._keep_alive = request.keep_alive
        self.started = False  # the status line was sent
        self.done = False  # the response is complete

    def json(self, status: int, obj: Any) -> None:
        self.send(status, _go_json(obj), JSON_TYPE)

    def error(self, status: int, message: str) -> None:
        self.json(status, {"error": message})

    def fail(self, message: str) -> None:
        """A failure reported after the work started; Ollama answers 500."""
        self.error(500, message)

    def text(self, status: int, text: str) -> None:
        self.send(status, text.encode(), "text/plain")

    def send(self, status: int, body: bytes = b"", content_type: str | None = None) -> None:
        headers = [("Content-Type", content_type)] if content_type else []
        head = self._start(status, [*headers, ("Content-Length", str(len(body)))])
        self._transport.write(head if self._head_only else head + body)
        self._finish()

    def line(self, obj: Any) -> None:
        """Send one NDJSON line as its own chunk."""
        data = _go_json(obj) + b"\n"
        chunk = _chunk(data)
        if not self.started:
            chunk = self._start(200, [("Content-Type", NDJSON_TYPE), ("Transfer-Encoding", "chunked")]) + chunk
        self._transport.write(chunk)

    def end_stream(self) -> None:
        self._transport.write(_LAST_CHUNK)
        self._finish()

    async def drain(self) -> None:
        """Wait while the client does not read (the transport paused writing)."""
        if self._can_write is not None and not self._can_write.is_set():
            await self._can_write.wait()

    def raw(self, data: bytes) -> None:
        """Write prepared bytes (the bench fast path builds its own chunks)."""
        self.started = True
        self._transport.write(data)

    def drop(self) -> None:
        """Close the connection now, mid-response if need be."""
        self._transport.close()

    def _start(self, status: int, headers: list[tuple[str, str]]) -> bytes:
        """Mark the response started; returns its status line and headers."""
        lines = [f"HTTP/1.1 {status} {_PHRASES[status]}", f"Date: {_http_date()}"]
        lines += [f"{name}: {value}" for name, value in headers]
        if not self._keep_alive:
            lines.append("Connection: close")
        self.started = True
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _finish(self) -> None:
        self.done = True
        if not self._keep_alive:
            self._transport.close()


def _read_locked(name: str, doc: str) -> property:
    """A read-only counter of the fake, read under its lock (handlers update it from the server's thread)."""

    def read(self) -> int:
        with self._lock:
            return getattr(self, name)

    return property(read, doc=doc)


class _Connection(asyncio.Protocol):
    """One client connection: requests are answered in order, each by its own task.

    Losing the connection cancels the running task; that is how handlers see disconnects.
    """

    def __init__(self, api: _OllamaApi, connections: set[_Connection]):
        self._api = api
        self._connections = connections
        self._buffer = bytearray()
        self._task: asyncio.Task | None = None
        self._transport: asyncio.Transport | None = None
        self._can_write = asyncio.Event()
        self._can_write.set()

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio skips TCP_NODELAY on sockets accepted from socket.create_server (proto 0);
        # without it each NDJSON line waits ~40 ms for the client's delayed ACK.
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._transport = transport  # type: ignore[assignment]
        self._connections.add(self)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self._dispatch_next()

    def connection_lost(self, exc: Exception | None) -> None:
        self._connections.discard(self)
        if self._task is not None:
            self._task.cancel()

    def abort(self) -> None:
        self._transport.abort()

    def _dispatch_next(self) -> None:
        if (self._task is not None and not self._task.done()) or self._transport.is_closing():
            return
        try:
            request = _parse_request(self._buffer)
        except ValueError:
            self._transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            self._transport.close()
            return
        if request is not None:
            if self._api._fake.bench and (answer := _bench_chat_at_once(request)) is not None:
                self._transport.write(answer)  # the benchmark's fast path: no task, no writer
                if not request.keep_alive:
                    self._transport.close()
                return self._dispatch_next()
            self._task = asyncio.get_running_loop().create_task(self._serve(request))
            self._task.add_done_callback(lambda _task: self._dispatch_next())

    async def _serve(self, request: _HttpRequest) -> None:
        writer = _HttpWriter(self._transport, request, self._can_write)
        try:
            await self._api.handle(request, writer)
        except Exception:
            logger.exception("fake ollama: %s %s failed", request.method, request.path)
            if not writer.started:
                writer.fail("fake ollama: internal error, see the test log")
        if not writer.done:
            self._transport.close()


# --- Ollama's API --------------------------------------------------------------------------


class _CompletionOutput:
    """Renders one /api/chat or /api/generate response; subclasses stream or buffer it."""

    def __init__(self, writer: _HttpWriter, kind: str, model: str, top_logprobs: int | None, final_extra: dict):
        self._writer = writer
        self._kind = kind
        self._model = model
        self._top_logprobs = top_logprobs  # None: logprobs were not requested
        self._final_extra = final_extra
        self._position = 0

    def drop(self) -> None:
        self._writer.drop()

    def without_generation(self, done_reason: str) -> None:
        """The single final object Ollama answers when it only loads or unloads the model."""
        self._writer.json(200, {**self._object(self._fields(), True), "done_reason": done_reason})

    def _fields(self, content: str = "", thinking: str = "", tool_calls: list | None = None) -> dict:
        """The text fields: nested in ``message`` for chat, top level (``response``) for generate."""
        extras: dict[str, Any] = {"thinking": thinking} if thinking else {}
        if tool_calls:
            extras["tool_calls"] = tool_calls
        if self._kind == "chat":
            return {"message": {"role": "assistant", "content": content, **extras}}
        return {"response": content, **extras}

    def _object(self, fields: dict, done: bool) -> dict:
        return {"model": self._model, "created_at": _rfc3339(), **fields, "done": done}

    def _final(self, fields: dict, done_reason: str, metrics: dict) -> dict:
        return {**self._object(fields, True), "done_reason": done_reason, **metrics, **self._final_extra}

    def _logprobs(self, token: str) -> list[dict]:
        if self._top_logprobs is None:
            return []
        self._position += 1
        return [_logprob(token, self._position - 1, self._top_logprobs)]


class _StreamedOutput(_CompletionOutput):
    def piece(self, kind: str, text: str) -> None:
        chunk = self._object(self._fields(**{kind: text}), done=False)
        if logprobs := self._logprobs(text):
            chunk["logprobs"] = logprobs
        self._writer.line(chunk)

    def tool_calls(self, calls: list[dict]) -> None:
        self._writer.line(self._object(self._fields(tool_calls=calls), done=False))

    def finish(self, done_reason: str, metrics: dict) -> None:
        self._writer.line(self._final(self._fields(), done_reason, metrics))
        self._writer.end_stream()

    def fail(self, message: str) -> None:
        self._writer.line({"error": message})
        self._writer.end_stream()


class _BufferedOutput(_CompletionOutput):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._texts: dict[str, list[str]] = {"content": [], "thinking": []}
        self._tool_calls: list[dict] = []
        self._all_logprobs: list[dict] = []

    def piece(self, kind: str, text: str) -> None:
        self._texts[kind].append(text)
        self._all_logprobs += self._logprobs(text)

    def tool_calls(self, calls: list[dict]) -> None:
        self._tool_calls = calls

    def finish(self, done_reason: str, metrics: dict) -> None:
        content, thinking = ("".join(self._texts[kind]) for kind in ("content", "thinking"))
        body = self._final(self._fields(content, thinking, self._tool_calls), done_reason, metrics)
        if self._all_logprobs:
            body["logprobs"] = self._all_logprobs
        self._writer.json(200, body)

    def fail(self, message: str) -> None:
        self._writer.fail(message)


async def _inject_fault(target: _HttpWriter | _StreamedOutput | _BufferedOutput, reply: Reply, emitted: float) -> bool:
    """Fire the first fault due after `emitted` tokens; True if it ended the response.

    ``emitted=math.inf`` means the output is exhausted, so any configured fault is due.
    """
    if reply.disconnect_after is not None and emitted >= reply.disconnect_after:
        target.drop()
        return True
    if reply.hang_after is not None and emitted >= reply.hang_after:
        await asyncio.Event().wait()  # until the client leaves or the server stops
    if reply.error_after is not None and emitted >= reply.error_after:
        target.fail(reply.error)
        return True
    return False


async def _emit(
    out: _StreamedOutput | _BufferedOutput, reply: Reply, plan: _Plan, metrics: dict, succeed: Callable[[], None]
) -> None:
    """Emit a plan with the reply's delays and faults."""
    await asyncio.sleep(reply.first_token_delay)
    for index, (kind, text) in enumerate(plan.pieces):
        if await _inject_fault(out, reply, index):
            return
        if index:
            await asyncio.sleep(reply.token_delay)
        out.piece(kind, text)
    if await _inject_fault(out, reply, math.inf):
        return
    if plan.tool_calls:
        out.tool_calls(plan.tool_calls)
    succeed()
    out.finish(plan.done_reason, metrics)


class _OllamaApi:
    """Ollama's native API answered from a FakeOllama (a friend class: uses its private hooks).

    Inference handlers get a third argument, ``succeed``, to call right before they write a
    successful final response: the fake's counters are then current once a client has read it.
    """

    def __init__(self, fake: FakeOllama):
        self._fake = fake
        read, post = frozenset({"GET", "HEAD"}), frozenset({"POST"})
        self._routes: dict[str, tuple[frozenset[str], Callable[..., Awaitable[None]]]] = {
            "/": (read, self._root),
            "/api/version": (read, self._version),
            "/api/tags": (read, self._tags),
            "/api/ps": (read, self._ps),
            "/api/show": (post, self._show),
            "/api/chat": (post, self._chat),
            "/api/generate": (post, self._generate),
            "/api/embed": (post, self._embed),
            "/api/embeddings": (post, self._embeddings),
            "/api/pull": (post, self._pull),
            "/api/copy": (post, self._copy),
            "/api/delete": (frozenset({"DELETE"}), self._delete),
            "/api/push": (post, self._push),
            "/api/create": (post, self._create),
        }

    async def handle(self, request: _HttpRequest, writer: _HttpWriter) -> None:
        body = _decode_json(request.body)
        if self._fake.bench:
            if (
                request.path == "/api/chat"
                and isinstance(body, dict)
                and str(body.get("model", "")).startswith("bench")
            ):
                return await _bench_chat(body, writer)
            if (
                request.path == "/v1/chat/completions"
                and isinstance(body, dict)
                and str(body.get("model", "")).startswith("bench")
            ):
                return await _bench_openai_chat(body, writer)
        else:
            self._fake._record(RecordedRequest(request.method, request.path, body, request.headers))
        if request.path.startswith("/api/blobs/"):
            return self._blob(request, writer)
        route = self._routes.get(request.path)
        if route is None:
            return writer.text(404, "404 page not found")
        methods, handler = route
        if request.method not in methods:
            return writer.text(405, "405 method not allowed")
        try:
            if request.method in ("GET", "HEAD"):
                await handler({}, writer)
            elif not isinstance(body, dict):
                raise _HttpError(400, "invalid request body" if request.body.strip() else "missing request body")
            elif request.path in INFERENCE_PATHS:
                await self._infer(handler, body, writer)
            else:
                await handler(body, writer)
        except _HttpError as exc:
            writer.error(exc.status, exc.message)

    async def _infer(self, handler: Callable[..., Awaitable[None]], body: dict, writer: _HttpWriter) -> None:
        """Run an inference handler, counting it as completed, cancelled (client gone) or failed."""
        ended = False

        def end(outcome: str) -> None:
            nonlocal ended
            if not ended:
                ended = True
                self._fake._inference_ended(outcome)

        self._fake._inference_started()
        try:
            if self._fake.busy:
                raise _HttpError(503, BUSY_MESSAGE)
            await handler(body, writer, lambda: end("completed"))
        except asyncio.CancelledError:
            end("cancelled")
            raise
        finally:
            end("failed")

    # Inference.

    async def _chat(self, body: dict, writer: _HttpWriter, succeed: Callable[[], None]) -> None:
        name = body.get("model") or ""
        if not name:
            raise _HttpError(400, "model is required")
        messages = body.get("messages") or []
        images = [image for message in messages for image in message.get("images") or []]
        model = self._validate(name, body, images)
        if not messages:
            return self._load_or_unload("chat", name, model, body, writer, succeed)
        prompt_tokens = sum(_words(message.get("content")) + 4 for message in messages)
        await self._complete("chat", name, body, prompt_tokens, writer, succeed)

    async def _generate(self, body: dict, writer: _HttpWriter, succeed: Callable[[], None]) -> None:
        name = body.get("model") or ""
        images = body.get("images") or []
        model = self._validate(name, body, images)
        if not body.get("prompt") and not images:
            return self._load_or_unload("generate", name, model, body, writer, succeed)
        prompt_tokens = _words(body.get("system"), body.get("prompt")) + 4
        await self._complete("generate", name, body, prompt_tokens, writer, succeed)

    def _validate(self, name: str, body: dict, images: list) -> FakeModel:
        """Reject a chat/generate request as Ollama would: decoding, then model, then capabilities."""
        _check_base64(images)
        legacy = self._fake._legacy
        if legacy:
            _check_legacy_tools(body.get("tools"))
        else:
            _check_top_logprobs(body)
        model = self._model(name)
        _check_capabilities(model, name, body, images, legacy)
        return model

    def _load_or_unload(
        self, kind: str, name: str, model: FakeModel, body: dict, writer: _HttpWriter, succeed: Callable[[], None]
    ) -> None:
        """An empty prompt only loads the model (or unloads it with ``keep_alive: 0``)."""
        unload = _is_zero_keep_alive(body.get("keep_alive"))
        self._fake._put_model(replace(model, loaded=not unload))
        succeed()
        _CompletionOutput(writer, kind, name, None, {}).without_generation("unload" if unload else "load")

    async def _complete(
        self, kind: str, name: str, body: dict, prompt_tokens: int, writer: _HttpWriter, succeed: Callable[[], None]
    ) -> None:
        reply = self._fake._reply_for(f"/api/{kind}", name, body)
        if reply.status is not None:
            raise _HttpError(reply.status, reply.error)
        legacy = self._fake._legacy
        emit_thinking = not legacy and body.get("think") is not False
        plan = _plan(reply, body.get("options") or {}, emit_thinking=emit_thinking, tool_call_ids=not legacy)
        prompt_count = reply.prompt_eval_count if reply.prompt_eval_count is not None else prompt_tokens
        eval_count = reply.eval_count if reply.eval_count is not None else len(plan.pieces)
        out = self._output(kind, name, body, reply, writer)
        await _emit(out, reply, plan, _metrics(reply, prompt_count, eval_count), succeed)

    def _output(
        self, kind: str, name: str, body: dict, reply: Reply, writer: _HttpWriter
    ) -> _StreamedOutput | _BufferedOutput:
        """The renderer for this request: streamed unless ``stream: false``."""
        wants_logprobs = not self._fake._legacy and reply.logprobs and body.get("logprobs") is True
        top_logprobs = (body.get("top_logprobs") or 0) if wants_logprobs else None
        final_extra = {"context": [1, 2, 3]} if kind == "generate" and not body.get("raw") else {}
        output_class = _BufferedOutput if body.get("stream") is False else _StreamedOutput
        return output_class(writer, kind, name, top_logprobs, final_extra)

    async def _embed(self, body: dict, writer: _HttpWriter, succeed: Callable[[], None]) -> None:
        name = body.get("model") or ""
        inputs = _embed_inputs(body.get("input"))
        model = self._model(name)
        words = _words(*inputs)
        if body.get("truncate") is False and words > model.context_length:
            raise _HttpError(400, "the input length exceeds the context length")
        reply = await self._embedding_reply("/api/embed", name, body, writer)
        if reply is None:
            return
        answer: dict[str, Any] = {"model": name, "embeddings": []}
        if inputs:
            dimensions = None if self._fake._legacy else body.get("dimensions")
            answer["embeddings"] = [_embedding(text, model.embedding_length, dimensions) for text in inputs]
            metrics = _metrics(reply, words, 0)
            answer |= {
                key: metrics[key] for key in ("total_duration", "load_duration", "prompt_eval_count") if key in metrics
            }
        succeed()
        writer.json(200, answer)

    async def _embeddings(self, body: dict, writer: _HttpWriter, succeed: Callable[[], None]) -> None:
        """The legacy endpoint: one vector, not normalised."""
        name = body.get("model") or ""
        model = self._model(name)
        if await self._embedding_reply("/api/embeddings", name, body, writer) is None:
            return
        prompt = str(body.get("prompt") or "")
        succeed()
        writer.json(200, {"embedding": _raw_embedding(prompt, model.embedding_length) if prompt else []})

    async def _embedding_reply(self, path: str, name: str, body: dict, writer: _HttpWriter) -> Reply | None:
        """The reply for an embedding request, after its faults; None if one ended the response."""
        reply = self._fake._reply_for(path, name, body)
        if reply.status is not None:
            raise _HttpError(reply.status, reply.error)
        await asyncio.sleep(reply.first_token_delay)
        return None if await _inject_fault(writer, reply, math.inf) else reply

    # Models.

    def _model(self, name: str) -> FakeModel:
        model = self._fake.models.get(_full_name(name)) if name else None
        if model is None:
            raise _HttpError(404, f"model '{name}' not found")
        return model

    async def _root(self, body: dict, writer: _HttpWriter) -> None:
        writer.text(200, "Ollama is running")

    async def _version(self, body: dict, writer: _HttpWriter) -> None:
        writer.json(200, {"version": self._fake.version})

    async def _tags(self, body: dict, writer: _HttpWriter) -> None:
        legacy = self._fake._legacy
        writer.json(200, {"models": [self._listing(model, legacy) for model in self._sorted_models()]})

    async def _ps(self, body: dict, writer: _HttpWriter) -> None:
        legacy = self._fake._legacy
        expires_at = _rfc3339(time.time_ns() + 300 * 1_000_000_000)
        running = [self._running(model, expires_at, legacy) for model in self._sorted_models() if model.loaded]
        writer.json(200, {"models": running})

    async def _show(self, body: dict, writer: _HttpWriter) -> None:
        name = body.get("model") or body.get("name") or ""
        if not name:
            raise _HttpError(400, "model is required")
        model = self._model(name)
        writer.json(
            200,
            {
                "license": "FAKE LICENSE",
                "modelfile": f'# Modelfile generated by "ollama show"\nFROM {model.name}\n',
                "parameters": 'stop "<|eot_id|>"',
                "template": "{{ .Prompt }}",
                "details": model.details(),
                "model_info": {
                    "general.architecture": model.family,
                    f"{model.family}.context_length": model.context_length,
                    f"{model.family}.embedding_length": model.embedding_length,
                },
                "capabilities": list(model.capabilities),
                "modified_at": model.modified_at,
            },
        )

    async def _pull(self, body: dict, writer: _HttpWriter) -> None:
        name = body.get("model") or body.get("name") or ""
        if not name:
            raise _HttpError(400, "model is required")
        lines = _pull_progress(name, self._fake.pull_error)
        if "error" not in lines[-1] and _full_name(name) not in self._fake.models:
            self._fake.add_model(name)
        if body.get("stream") is False:
            final = lines[-1]
            return writer.error(500, final["error"]) if "error" in final else writer.json(200, final)
        for line in lines:
            writer.line(line)
            await asyncio.sleep(0)
        writer.end_stream()

    async def _push(self, body: dict, writer: _HttpWriter) -> None:
        """Progress like `ollama push`: retrieving manifest, one layer in steps, pushing manifest, success."""
        model = self._model(body.get("model") or body.get("name") or "")
        digest = model.digest.split(":", 1)[-1]
        layer = {"status": f"pushing {digest[:12]}", "digest": model.digest, "total": 7_020}
        lines = [{"status": "retrieving manifest"}, layer, {**layer, "completed": 7_020}]
        for line in [*lines, {"status": "pushing manifest"}, {"status": "success"}]:
            writer.line(line)
        writer.end_stream()

    async def _create(self, body: dict, writer: _HttpWriter) -> None:
        """`ollama create` from an existing model (`from`) or from uploaded blobs (`files`)."""
        name = body.get("model") or body.get("name") or ""
        if not name:
            raise _HttpError(400, "model is required")
        files = body.get("files") or {}
        missing = [digest for digest in files.values() if digest not in self._fake.blobs]
        if missing:
            raise _HttpError(400, f"blob {missing[0]} not found")
        base = self._model(body["from"]) if body.get("from") else None
        lines = [{"status": "parsing GGUF"} if files else {"status": "using existing layer " + base.digest}]
        if body.get("system"):
            lines.append({"status": "creating new layer sha256:" + hashlib.sha256(body["system"].encode()).hexdigest()})
        model = replace(base, name=_full_name(name)) if base else None
        if model is None:
            self._fake.add_model(name)
        else:
            self._fake._put_model(model)
        for line in [*lines, {"status": "writing manifest"}, {"status": "success"}]:
            writer.line(line)
        writer.end_stream()

    def _blob(self, request: _HttpRequest, writer: _HttpWriter) -> None:
        digest = request.path.removeprefix("/api/blobs/")
        if request.method == "HEAD":
            return writer.send(200 if digest in self._fake.blobs else 404)
        if request.method != "POST":
            return writer.text(405, "405 method not allowed")
        if "sha256:" + hashlib.sha256(request.body).hexdigest() != digest:
            return writer.error(400, "digest mismatch")
        self._fake.blobs[digest] = request.body
        writer.send(201)

    async def _copy(self, body: dict, writer: _HttpWriter) -> None:
        source, destination = body.get("source") or "", body.get("destination") or ""
        if not source:
            raise _HttpError(400, f'source "{source}" is invalid')
        if not destination:
            raise _HttpError(400, f'destination "{destination}" is invalid')
        model = self._fake.models.get(_full_name(source))
        if model is None:
            raise _HttpError(404, f'model "{source}" not found')
        self._fake._put_model(replace(model, name=_full_name(destination)))
        writer.send(200)

    async def _delete(self, body: dict, writer: _HttpWriter) -> None:
        name = body.get("model") or body.get("name") or ""
        if not name:
            raise _HttpError(400, f'name "{name}" is invalid')
        if not self._fake.remove_model(name):
            raise _HttpError(404, f"model '{name}' not found")
        writer.send(200)

    def _sorted_models(self) -> list[FakeModel]:
        return [model for _, model in sorted(self._fake.models.items())]

    @staticmethod
    def _listing(model: FakeModel, legacy: bool) -> dict:
        entry = {
            "name": model.name,
            "model": model.name,
            "modified_at": model.modified_at,
            "size": model.size,
            "digest": model.digest,
            "details": model.details(),
        }
        return entry if legacy else {**entry, "capabilities": list(model.capabilities)}

    @staticmethod
    def _running(model: FakeModel, expires_at: str, legacy: bool) -> dict:
        entry = {
            "name": model.name,
            "model": model.name,
            "size": model.size,
            "digest": model.digest,
            "details": model.details(),
            "expires_at": expires_at,
            "size_vram": model.size,
        }
        return entry if legacy else {**entry, "context_length": model.context_length}


# --- The benchmark's fast path ---------------------------------------------------------------

BENCH_TOKEN = "Tk "
BENCH_CREATED_AT = "2026-01-01T00:00:00.000000000Z"
_BENCH_PARAM_RE = re.compile(r"^(ttft|tps|n)(\d+(?:\.\d+)?)$")


class BenchDefaults:
    """Generation when the model name does not say (set by the command line)."""

    ttft_ms = 0.0
    tps = 0.0
    tokens = 16


def bench_generation(model: str, options: Any) -> tuple[float, float, int]:
    """(ttft seconds, tokens per second or 0, token count) for a bench model name."""
    ttft, tps, n = BenchDefaults.ttft_ms, BenchDefaults.tps, BenchDefaults.tokens
    for part in model.split(":", 1)[0].split("-"):
        match = _BENCH_PARAM_RE.match(part)
        if match:
            key, value = match.group(1), float(match.group(2))
            if key == "ttft":
                ttft = value
            elif key == "tps":
                tps = value
            else:
                n = int(value)
    if isinstance(options, dict) and isinstance(options.get("num_predict"), int) and options["num_predict"] > 0:
        n = min(n, options["num_predict"])
    return ttft / 1000.0, tps, max(n, 1)


def _bench_prompt_tokens(messages: Any) -> int:
    return sum(len(str(m.get("content") or "").split()) for m in messages or () if isinstance(m, dict)) + 4


async def _bench_whole_answer(ttft: float, tps: float, n: int) -> None:
    """Waits as long as generating the whole answer takes (a non-streaming bench request)."""
    delay = ttft + (n / tps if tps > 0 else 0.0)
    if delay > 0:
        await asyncio.sleep(delay)


async def _bench_paced_stream(
    writer: _HttpWriter, content_type: str, token: bytes, ttft: float, tps: float, n: int, tail
) -> None:
    """A chunked response: after `ttft` seconds, the chunk `token` n times at `tps` a second (0: at once), one
    write each, then the chunks `tail()` returns and the end of the body."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    if ttft > 0:
        await asyncio.sleep(ttft)
    writer.raw(writer._start(200, [("Content-Type", content_type), ("Transfer-Encoding", "chunked")]))
    first_token_at = start + ttft
    for i in range(n):
        if tps > 0:
            delay = first_token_at + i / tps - loop.time()
            if delay > 0.0005:
                await asyncio.sleep(delay)
        await writer.drain()
        writer.raw(token)
    writer.raw(tail() + _LAST_CHUNK)
    writer._finish()


def _bench_final(n: int, prompt_tokens: int, elapsed: float) -> dict:
    ns = int(elapsed * 1e9)
    return {
        "done": True,
        "done_reason": "stop",
        "total_duration": ns,
        "load_duration": 0,
        "prompt_eval_count": prompt_tokens,
        "prompt_eval_duration": 0,
        "eval_count": n,
        "eval_duration": ns,
    }


def _bench_chat_at_once(request: _HttpRequest) -> bytes | None:
    """The whole response to a non-streaming bench chat without delays, or None (not one)."""
    if request.path != "/api/chat" or request.method != "POST":
        return None
    body = _decode_json(request.body)
    if not isinstance(body, dict) or body.get("stream", True) or not str(body.get("model", "")).startswith("bench"):
        return None
    model = str(body["model"])
    ttft, tps, n = bench_generation(model, body.get("options"))
    if ttft or tps:
        return None
    prompt_tokens = _bench_prompt_tokens(body.get("messages"))
    assistant = {"role": "assistant", "content": BENCH_TOKEN * n}
    payload = _fast_dumps(
        {"model": model, "created_at": BENCH_CREATED_AT, "message": assistant, **_bench_final(n, prompt_tokens, 0.0)}
    )
    head = f"HTTP/1.1 200 OK\r\nDate: {_http_date()}\r\nContent-Type: {JSON_TYPE}\r\nContent-Length: {len(payload)}\r\n"
    return (head + ("\r\n" if request.keep_alive else "Connection: close\r\n\r\n")).encode("latin-1") + payload


async def _bench_chat(body: dict, writer: _HttpWriter) -> None:
    """/api/chat for a bench model: paced "Tk " tokens, one chunked write per token as Ollama does."""
    model = str(body.get("model"))
    ttft, tps, n = bench_generation(model, body.get("options"))
    prompt_tokens = _bench_prompt_tokens(body.get("messages"))
    started = time.perf_counter()
    assistant = {"role": "assistant", "content": BENCH_TOKEN * n}
    if not body.get("stream", True):
        await _bench_whole_answer(ttft, tps, n)
        final = _bench_final(n, prompt_tokens, time.perf_counter() - started)
        return writer.send(
            200, _go_json({"model": model, "created_at": BENCH_CREATED_AT, "message": assistant, **final}), JSON_TYPE
        )
    head = {"model": model, "created_at": BENCH_CREATED_AT}
    token = _chunk(_go_json({**head, "message": {**assistant, "content": BENCH_TOKEN}, "done": False}) + b"\n")

    def tail() -> bytes:
        final = _bench_final(n, prompt_tokens, time.perf_counter() - started)
        return _chunk(_go_json({**head, "message": {**assistant, "content": ""}, **final}) + b"\n")

    await _bench_paced_stream(writer, NDJSON_TYPE, token, ttft, tps, n, tail)


async def _bench_openai_chat(body: dict, writer: _HttpWriter) -> None:
    """Ollama's OpenAI-compatible /v1/chat/completions for a bench model (the peers of bench/peers.py
    that speak it): the same paced "Tk " tokens, as one JSON or as server-sent events, one write per token."""
    model = str(body.get("model"))
    ttft, tps, n = bench_generation(model, {"num_predict": body.get("max_tokens")})
    prompt_tokens = _bench_prompt_tokens(body.get("messages"))
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": n, "total_tokens": prompt_tokens + n}
    base = {"id": "chatcmpl-bench", "created": 1767225600, "model": model, "system_fingerprint": "fp_ollama"}
    if not body.get("stream"):
        await _bench_whole_answer(ttft, tps, n)
        message = {"role": "assistant", "content": BENCH_TOKEN * n}
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        return writer.send(200, _go_json({**base, "object": "chat.completion", "choices": [choice], "usage": usage}),
                           JSON_TYPE)  # fmt: skip

    def event(delta: dict, finish: str | None = None, **extra) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        chunk = {**base, "object": "chat.completion.chunk", "choices": [choice], **extra}
        return _chunk(b"data: " + _go_json(chunk) + b"\n\n")

    def tail() -> bytes:
        return event({"role": "assistant", "content": ""}, "stop", usage=usage) + _chunk(b"data: [DONE]\n\n")

    token = event({"role": "assistant", "content": BENCH_TOKEN})
    await _bench_paced_stream(writer, "text/event-stream", token, ttft, tps, n, tail)


# --- The public fake -------------------------------------------------------------------------


class FakeOllama:
    """A fake Ollama server on 127.0.0.1, configurable from the test thread while it runs."""

    def __init__(self, version: str = "0.33.0", port: int = 0, bench: bool = False):
        self.version = version
        self.bench = bench  # the benchmark's mode: bench-model fast path, requests not recorded
        self.reply = Reply()
        self.responder: Callable[[str, dict], Reply | None] | None = None
        self.busy = False
        self.pull_error: str | None = None
        self.blobs: dict[str, bytes] = {}  # digest ("sha256:<hex>") -> content, for /api/blobs and /api/create
        self._requested_port = port
        self._port: int | None = None
        self._lock = threading.Lock()
        self._models: dict[str, FakeModel] = {}
        self._replies: dict[str, Reply] = {}
        self._requests: list[RecordedRequest] = []
        self._active = self._max_active = self._completed = self._cancelled = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    # Lifecycle.

    def start(self) -> Self:
        sock = socket.create_server(("127.0.0.1", self._requested_port), backlog=LISTEN_BACKLOG)
        self._port = sock.getsockname()[1]
        ready = threading.Event()
        self._thread = threading.Thread(
            target=asyncio.run, args=(self._serve(sock, ready),), name=f"fake-ollama-{self._port}", daemon=True
        )
        self._thread.start()
        if not ready.wait(timeout=5):
            raise RuntimeError("fake ollama did not start")
        return self

    def serve_forever(self, host: str = "127.0.0.1", ready_file: str | None = None, use_uvloop: bool = True) -> None:
        """Serve in this thread (the benchmark's upstream process) until interrupted."""
        sock = socket.create_server((host, self._requested_port), backlog=LISTEN_BACKLOG)
        self._port = sock.getsockname()[1]
        ready = threading.Event()
        runner = asyncio.run
        if use_uvloop:
            try:
                import uvloop

                runner = uvloop.run
            except ImportError:
                logger.warning("uvloop is not installed: using asyncio's default loop")
        threading.Thread(target=self._announce, args=(ready, ready_file), daemon=True).start()
        runner(self._serve(sock, ready))

    def _announce(self, ready: threading.Event, ready_file: str | None) -> None:
        ready.wait()
        print(f"LISTENING {self._port}", flush=True)
        if ready_file:
            with open(ready_file, "w") as f:
                f.write(str(self._port))

    def stop(self) -> None:
        """Stop serving; connections still open (even hung ones) are aborted."""
        if self._thread is None:
            return
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(timeout=5)
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeOllama is not started")
        return f"http://127.0.0.1:{self._port}"

    async def _serve(self, sock: socket.socket, ready: threading.Event) -> None:
        connections: set[_Connection] = set()
        api = _OllamaApi(self)
        loop = asyncio.get_running_loop()
        # The backlog again: create_server listens anew, with 100 unless told (a burst of 1,000
        # connections then lost SYNs, and their clients waited a second to send them again).
        server = await loop.create_server(lambda: _Connection(api, connections), sock=sock, backlog=LISTEN_BACKLOG)
        self._loop, self._stopping = loop, asyncio.Event()
        ready.set()
        await self._stopping.wait()
        server.close()
        for connection in list(connections):
            connection.abort()

    # Configuration.

    def add_model(
        self,
        name: str,
        *,
        family: str | None = None,
        parameter_size: str = "8.0B",
        quantization_level: str = "Q4_0",
        capabilities: Iterable[str] | None = None,
        size: int = 4_661_224_676,
        modified_at: str = "2024-05-01T10:00:00Z",
        context_length: int = 8192,
        embedding_length: int | None = None,
        loaded: bool = False,
    ) -> FakeModel:
        """Serve a model (replacing one of the same name); ``name`` without a tag gets ``:latest``.

        Capabilities default to ``embedding`` for ``all-minilm*``/``*embed*`` names, else
        ``completion``, ``tools`` and ``vision``; embedding models default to family ``bert``
        and 384 dimensions, others to ``llama`` and 4096.
        """
        capabilities = tuple(capabilities if capabilities is not None else _default_capabilities(name))
        embeds = "embedding" in capabilities
        model = FakeModel(
            name=_full_name(name),
            family=family or ("bert" if embeds else "llama"),
            parameter_size=parameter_size,
            quantization_level=quantization_level,
            capabilities=capabilities,
            size=size,
            modified_at=modified_at,
            context_length=context_length,
            embedding_length=embedding_length or (384 if embeds else 4096),
            loaded=loaded,
        )
        self._put_model(model)
        return model

    def remove_model(self, name: str) -> bool:
        """Forget a model; False if it was not served."""
        with self._lock:
            return self._models.pop(_full_name(name), None) is not None

    @property
    def models(self) -> dict[str, FakeModel]:
        """A snapshot of the served models by full name."""
        with self._lock:
            return dict(self._models)

    def set_reply(self, model: str, reply: Reply | None) -> None:
        """Answer this model with `reply` instead of ``self.reply`` (None restores the default)."""
        with self._lock:
            if reply is None:
                self._replies.pop(_full_name(model), None)
            else:
                self._replies[_full_name(model)] = reply

    def reset(self) -> None:
        """Back to a fresh fake (no models, default replies, no recorded requests), still serving."""
        self.reply = Reply()
        self.responder = None
        self.busy = False
        self.pull_error = None
        self.blobs = {}
        with self._lock:
            self._models.clear()
            self._replies.clear()
        self.clear()

    # Observability.

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def counts_for(self, path: str) -> int:
        with self._lock:
            return sum(request.path == path for request in self._requests)

    active = _read_locked("_active", "Inference requests in flight right now.")
    max_active = _read_locked("_max_active", "The most inference requests that were in flight at once.")
    completed = _read_locked("_completed", "Inference requests answered successfully to the end.")
    cancelled = _read_locked("_cancelled", "Inference requests whose client left before the response was complete.")

    def clear(self) -> None:
        """Forget recorded requests and reset the counters (requests in flight stay active)."""
        with self._lock:
            self._requests.clear()
            self._max_active = self._active
            self._completed = self._cancelled = 0

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Poll `predicate` until it is true; AssertionError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout}s")
            time.sleep(0.005)

    # Hooks for _OllamaApi (called on the server thread).

    @property
    def _legacy(self) -> bool:
        return _version_tuple(self.version) < LEGACY_BEFORE

    def _put_model(self, model: FakeModel) -> None:
        with self._lock:
            self._models[model.name] = model

    def _reply_for(self, path: str, model: str, body: dict) -> Reply:
        if self.responder is not None and (reply := self.responder(path, body)) is not None:
            return reply
        with self._lock:
            return self._replies.get(_full_name(model), self.reply)

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _inference_started(self) -> None:
        with self._lock:
            self._active += 1
            self._max_active = max(self._max_active, self._active)

    def _inference_ended(self, outcome: str) -> None:
        """outcome: "completed", "cancelled" (the client left) or "failed"."""
        with self._lock:
            self._active -= 1
            self._completed += outcome == "completed"
            self._cancelled += outcome == "cancelled"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a fake Ollama server on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument("--model", action="append", default=[], help="a model to serve (repeatable)")
    parser.add_argument("--version", default="0.33.0", help="the version /api/version reports")
    parser.add_argument("--bench", action="store_true", help="the benchmark's mode (see the module's docstring)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--ttft-ms", type=float, default=0.0, help="bench: delay before the first token (ms)")
    parser.add_argument("--tps", type=float, default=0.0, help="bench: tokens per second (0: as fast as possible)")
    parser.add_argument("--tokens", type=int, default=16, help="bench: tokens per reply")
    parser.add_argument("--ready-file", help="bench: write the bound port here once listening")
    parser.add_argument("--no-uvloop", action="store_true")
    args = parser.parse_args(argv)
    if args.bench:
        BenchDefaults.ttft_ms, BenchDefaults.tps, BenchDefaults.tokens = args.ttft_ms, args.tps, args.tokens
        fake = FakeOllama(version=args.version, port=args.port, bench=True)
        for name in ["bench", *args.model]:
            fake.add_model(name, capabilities=("completion",))
        with contextlib.suppress(KeyboardInterrupt):
            fake.serve_forever(args.host, args.ready_file, not args.no_uvloop)
        return
    with FakeOllama(version=args.version, port=args.port) as fake:
        for name in args.model:
            fake.add_model(name)
        print(fake.url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
