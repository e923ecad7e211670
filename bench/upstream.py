"""A fast fake Ollama for benchmarks: raw asyncio HTTP/1.1 (keep-alive, chunked NDJSON), uvloop if present.

    python bench/upstream.py --port 0 [--ttft-ms 0] [--tps 0] [--tokens 16]

Prints ``LISTENING <port>`` on stdout once it accepts connections.

Endpoints: ``GET /api/tags``, ``GET /api/version``, ``POST /api/show`` and ``POST /api/chat``
(non-streaming JSON, or NDJSON streaming with one chunk per token, as Ollama does).
Each token's text is ``"Tk "`` so a client can count tokens by counting that marker.

Generation is set by the command line, and per request by the model name: a model name may
carry ``ttft<ms>``, ``tps<tokens per second>`` and ``n<tokens>`` parts separated by dashes,
e.g. ``bench-ttft5-tps2000-n1000`` (``tps0`` = no pacing). ``options.num_predict`` caps the count.
Tokens are paced against an absolute schedule (start + ttft + i/tps), so the average rate is
exact even though the event loop's timers have millisecond resolution.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import sys
import time

try:
    import orjson

    dumps, loads = orjson.dumps, orjson.loads
except ImportError:  # pragma: no cover - the project venv has orjson

    def dumps(obj):
        return json.dumps(obj, separators=(",", ":")).encode()

    loads = json.loads

TOKEN = "Tk "
CREATED_AT = "2026-01-01T00:00:00.000000000Z"
MAX_HEADER = 64 * 1024
_PARAM_RE = re.compile(r"^(ttft|tps|n)(\d+(?:\.\d+)?)$")


class Defaults:
    ttft_ms = 0.0
    tps = 0.0
    tokens = 16


def generation(model: str, options) -> tuple[float, float, int]:
    """(ttft seconds, tokens per second or 0, token count) for a request."""
    ttft, tps, n = Defaults.ttft_ms, Defaults.tps, Defaults.tokens
    for part in model.split(":", 1)[0].split("-"):
        match = _PARAM_RE.match(part)
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


def _head(status: int, reason: str, content_type: str, length: int | None) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Type: {content_type}", "Date: Thu, 01 Jan 2026 00:00:00 GMT"]
    lines.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def json_response(payload, status=200, reason="OK") -> bytes:
    body = dumps(payload)
    return _head(status, reason, "application/json; charset=utf-8", len(body)) + body


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def final_fields(n: int, prompt_tokens: int, elapsed: float) -> dict:
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


TAGS = {
    "models": [
        {
            "name": "bench:latest",
            "model": "bench:latest",
            "modified_at": CREATED_AT,
            "size": 1000,
            "digest": "0" * 64,
            "details": {"format": "gguf", "family": "llama", "parameter_size": "1B", "quantization_level": "Q4_0"},
        }
    ]
}


class Server:
    def __init__(self):
        self.requests = 0
        self.open_streams = 0
        self.max_open_streams = 0


STATS = Server()


class HttpProtocol(asyncio.Protocol):
    """One connection: requests are read and answered one at a time (no pipelining needed)."""

    def __init__(self):
        self.buffer = bytearray()
        self.transport = None
        self.task: asyncio.Task | None = None
        self.queue: asyncio.Queue = asyncio.Queue()
        self.can_write: asyncio.Event = asyncio.Event()
        self.can_write.set()
        self.closed = False

    def connection_made(self, transport):
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.task = asyncio.get_running_loop().create_task(self.serve())

    def connection_lost(self, exc):
        self.closed = True
        if self.task is not None:
            self.task.cancel()

    def pause_writing(self):
        self.can_write.clear()

    def resume_writing(self):
        self.can_write.set()

    def data_received(self, data):
        self.buffer += data
        self.queue.put_nowait(None)

    async def _read_request(self):
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(self.buffer) > MAX_HEADER:
                raise ConnectionError("header too large")
            await self.queue.get()
        head = bytes(self.buffer[:end]).decode("latin-1")
        del self.buffer[: end + 4]
        request_line, *header_lines = head.split("\r\n")
        method, target, _version = request_line.split(" ", 2)
        length = 0
        keep_alive = True
        for line in header_lines:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value.strip().lower() == "close":
                keep_alive = False
        while len(self.buffer) < length:
            await self.queue.get()
        body = bytes(self.buffer[:length])
        del self.buffer[:length]
        return method, target.split("?", 1)[0], body, keep_alive

    async def serve(self):
        try:
            while not self.closed:
                method, path, body, keep_alive = await self._read_request()
                STATS.requests += 1
                await self.answer(method, path, body)
                if not keep_alive:
                    self.transport.close()
                    return
        except (asyncio.CancelledError, ConnectionError, ValueError):
            if not self.closed:
                self.transport.close()

    async def write(self, data: bytes):
        if not self.can_write.is_set():
            await self.can_write.wait()
        self.transport.write(data)

    async def answer(self, method: str, path: str, body: bytes):
        if path == "/api/chat" and method == "POST":
            try:
                request = loads(body)
            except ValueError:
                return self.transport.write(json_response({"error": "invalid JSON"}, 400, "Bad Request"))
            return await self.chat(request)
        if path == "/api/tags":
            return self.transport.write(json_response(TAGS))
        if path == "/api/version":
            return self.transport.write(json_response({"version": "0.12.0"}))
        if path == "/api/show" and method == "POST":
            return self.transport.write(
                json_response({"capabilities": ["completion"], "details": TAGS["models"][0]["details"]})
            )
        if path == "/api/ps":
            return self.transport.write(json_response({"models": []}))
        return self.transport.write(json_response({"error": "not found"}, 404, "Not Found"))

    async def chat(self, request: dict):
        model = str(request.get("model") or "bench")
        ttft, tps, n = generation(model, request.get("options"))
        prompt_tokens = sum(len(str(m.get("content") or "").split()) for m in request.get("messages") or ()) + 4
        started = time.perf_counter()
        if not request.get("stream", True):
            delay = ttft + (n / tps if tps > 0 else 0.0)
            if delay > 0:
                await asyncio.sleep(delay)
            payload = {
                "model": model,
                "created_at": CREATED_AT,
                "message": {"role": "assistant", "content": TOKEN * n},
                **final_fields(n, prompt_tokens, time.perf_counter() - started),
            }
            return self.transport.write(json_response(payload))
        STATS.open_streams += 1
        STATS.max_open_streams = max(STATS.max_open_streams, STATS.open_streams)
        try:
            await self.stream(model, ttft, tps, n, prompt_tokens, started)
        finally:
            STATS.open_streams -= 1

    async def stream(self, model, ttft, tps, n, prompt_tokens, started):
        loop = asyncio.get_running_loop()
        line = dumps(
            {
                "model": model,
                "created_at": CREATED_AT,
                "message": {"role": "assistant", "content": TOKEN},
                "done": False,
            }
        )
        token_chunk = _chunk(line + b"\n")
        head = _head(200, "OK", "application/x-ndjson", None)
        start = loop.time()
        if ttft > 0:
            await asyncio.sleep(ttft)
        await self.write(head)
        first_token_at = start + ttft
        for i in range(n):
            if tps > 0:
                delay = first_token_at + i / tps - loop.time()
                if delay > 0.0005:
                    await asyncio.sleep(delay)
            await self.write(token_chunk)
        final = {
            "model": model,
            "created_at": CREATED_AT,
            "message": {"role": "assistant", "content": ""},
            **final_fields(n, prompt_tokens, time.perf_counter() - started),
        }
        await self.write(_chunk(dumps(final) + b"\n") + b"0\r\n\r\n")


async def main_async(host: str, port: int, ready_file: str | None):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(HttpProtocol, host, port, backlog=4096, reuse_address=True)
    bound = server.sockets[0].getsockname()[1]
    print(f"LISTENING {bound}", flush=True)
    if ready_file:
        with open(ready_file, "w") as f:
            f.write(str(bound))
    async with server:
        await server.serve_forever()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ttft-ms", type=float, default=0.0, help="Delay before the first token (ms).")
    parser.add_argument("--tps", type=float, default=0.0, help="Tokens per second (0: as fast as possible).")
    parser.add_argument("--tokens", type=int, default=16, help="Tokens per reply.")
    parser.add_argument("--ready-file", help="Write the bound port here once listening.")
    parser.add_argument("--no-uvloop", action="store_true")
    args = parser.parse_args(argv)
    Defaults.ttft_ms, Defaults.tps, Defaults.tokens = args.ttft_ms, args.tps, args.tokens
    runner = asyncio.run
    if not args.no_uvloop:
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:
            print("uvloop not installed: using asyncio's default loop", file=sys.stderr)
    try:
        runner(main_async(args.host, args.port, args.ready_file))
    except KeyboardInterrupt:
        pass
    finally:
        sys.stdout.flush()
        os._exit(0)


if __name__ == "__main__":
    main()
