"""Closed-loop HTTP/1.1 load generator for chat endpoints (raw asyncio sockets, uvloop if present).

    python bench/load.py --url http://127.0.0.1:8000/v1/chat/completions --api openai \\
        --model bench --concurrency 32 --duration 5 --warmup 1 [--stream] [--api-key sk-...] [--json out.json]

Each of ``--concurrency`` keep-alive connections sends one request after the other (closed loop)
until the time is up, or exactly ``--requests-per-conn`` requests each. Requests that start during
the warm-up are not counted. With several ``--url`` the connections are spread round-robin.

``--api`` is the request's protocol: ``openai`` (chat completions), ``ollama`` (/api/chat),
``responses`` (OpenAI's Responses API) or ``anthropic`` (Messages API, the key in ``x-api-key``).

It reports latency percentiles (send to last byte), requests per second, errors, and for
streams the time to first token (first ``"Tk "`` marker of the bench fake's replies seen (tests/fake_ollama.py --bench)),
the tokens per second of each stream (tokens after the first over the time since the first)
and the largest number of streams open at once. Markers are counted in the raw body, except in
Responses and Anthropic streams: there only in their text-delta events, since a Responses stream
repeats the whole text in its closing events (output_text.done, content_part.done,
output_item.done, response.completed). The JSON goes to ``--json`` (``-``: stdout).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import socket
import sys
import time
from urllib.parse import urlsplit

MARKER = b"Tk "
MAX_ERROR_SAMPLES = 5
APIS = ("openai", "ollama", "responses", "anthropic")
# Server-sent-event streams: the event that carries each piece of text once (tokens are counted there only).
DELTA_EVENTS = {"responses": "response.output_text.delta", "anthropic": "content_block_delta"}
ANTHROPIC_MAX_TOKENS = 4096  # the Messages API requires max_tokens
ANTHROPIC_VERSION = "2023-06-01"


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summary(values: list[float]) -> dict | None:
    if not values:
        return None
    values = sorted(values)
    return {
        "count": len(values),
        "mean": sum(values) / len(values),
        "min": values[0],
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": values[-1],
    }


class Response:
    __slots__ = ("status", "body_bytes", "tokens", "first_token", "last_token", "error", "head_at", "keep_alive")

    def __init__(self):
        self.status = 0
        self.body_bytes = 0
        self.tokens = 0
        self.first_token: float | None = None
        self.last_token: float | None = None
        self.error = ""
        self.head_at: float | None = None
        self.keep_alive = True


class ClientProtocol(asyncio.Protocol):
    """Parses one response at a time: Content-Length or chunked bodies; counts token markers as they arrive
    (with `delta_event`, only in the complete server-sent events of that type)."""

    def __init__(self, on_head, delta_event: str | None = None):
        self.transport = None
        self.buffer = bytearray()
        self.response: Response | None = None
        self.done: asyncio.Future | None = None
        self.state = "idle"
        self.remaining = 0  # body bytes left (Content-Length) or of the current chunk
        self.chunked = False
        self.tail = b""  # the last len(MARKER) - 1 body bytes, for markers split across reads
        self.delta_event = delta_event and f"event: {delta_event}\n".encode()
        self.pending = bytearray()  # the body's incomplete last event (with delta_event)
        self.on_head = on_head
        self.lost: asyncio.Future = asyncio.get_running_loop().create_future()

    def connection_made(self, transport):
        self.transport = transport
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc):
        if not self.lost.done():
            self.lost.set_result(exc)
        if self.done is not None and not self.done.done():
            self.response.error = f"connection lost: {exc or 'closed by server'}"
            self.done.set_result(self.response)

    def send(self, request: bytes) -> asyncio.Future:
        self.response = Response()
        self.done = asyncio.get_running_loop().create_future()
        self.state = "head"
        self.tail = b""
        self.pending.clear()
        self.transport.write(request)
        return self.done

    def _body(self, data, now):
        self.response.body_bytes += len(data)
        if self.delta_event:
            self._events(data, now)
            return
        window = self.tail + data
        self._tokens(window.count(MARKER), now)
        self.tail = bytes(window[-(len(MARKER) - 1) :])

    def _events(self, data, now):
        self.pending += data
        end = self.pending.rfind(b"\n\n")
        if end < 0:
            return
        events = bytes(self.pending[:end]).split(b"\n\n")
        del self.pending[: end + 2]
        self._tokens(sum(event.count(MARKER) for event in events if event.startswith(self.delta_event)), now)

    def _tokens(self, count, now):
        if count:
            if self.response.first_token is None:
                self.response.first_token = now
            self.response.last_token = now
            self.response.tokens += count

    def data_received(self, data):
        now = time.perf_counter()
        self.buffer += data
        while self.state != "idle":
            if self.state == "head":
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                self._parse_head(bytes(self.buffer[:end]), now)
                del self.buffer[: end + 4]
            elif self.state == "length":
                take = min(self.remaining, len(self.buffer))
                if take:
                    self._body(self.buffer[:take], now)
                    del self.buffer[:take]
                    self.remaining -= take
                if self.remaining:
                    return
                self._finish()
            elif self.state == "chunk-size":
                end = self.buffer.find(b"\r\n")
                if end < 0:
                    return
                size = int(bytes(self.buffer[:end]).split(b";", 1)[0], 16)
                del self.buffer[: end + 2]
                self.remaining = size
                self.state = "chunk-data" if size else "trailer"
            elif self.state == "chunk-data":
                take = min(self.remaining, len(self.buffer))
                if take:
                    self._body(self.buffer[:take], now)
                    del self.buffer[:take]
                    self.remaining -= take
                if self.remaining:
                    return
                self.state = "chunk-end"
            elif self.state == "chunk-end":
                if len(self.buffer) < 2:
                    return
                del self.buffer[:2]
                self.state = "chunk-size"
            elif self.state == "trailer":
                end = self.buffer.find(b"\r\n")
                if end < 0:
                    return
                line = bytes(self.buffer[:end])
                del self.buffer[: end + 2]
                if not line:
                    self._finish()

    def _parse_head(self, head: bytes, now: float):
        lines = head.decode("latin-1").split("\r\n")
        self.response.status = int(lines[0].split(" ", 2)[1])
        self.response.head_at = now
        self.on_head(+1)
        length = None
        self.chunked = False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                self.chunked = True
            elif name == "connection" and value.strip().lower() == "close":
                self.response.keep_alive = False
        if self.chunked:
            self.state = "chunk-size"
        elif length is not None:
            self.remaining = length
            self.state = "length"
            if length == 0:
                self._finish()
        else:
            self.response.error = "response without Content-Length or chunked encoding"
            self.response.keep_alive = False
            self._finish()

    def _finish(self):
        self.state = "idle"
        self.on_head(-1)
        if not self.done.done():
            self.done.set_result(self.response)


def request_body(args) -> dict:
    """One chat request in the protocol of ``--api``."""
    body = {"model": args.model}
    if args.api == "responses":
        body["input"] = args.prompt
        if args.max_tokens:
            body["max_output_tokens"] = args.max_tokens
        if args.no_store:
            body["store"] = False
    else:
        body["messages"] = [{"role": "user", "content": args.prompt}]
        if args.api == "anthropic":
            body["max_tokens"] = args.max_tokens or ANTHROPIC_MAX_TOKENS
        elif args.max_tokens and args.api == "openai":
            body["max_tokens"] = args.max_tokens
        elif args.max_tokens:
            body["options"] = {"num_predict": args.max_tokens}
    body["stream"] = args.stream
    return body


class Load:
    def __init__(self, args):
        self.args = args
        self.targets = [urlsplit(url) for url in args.url]
        self.latencies: list[float] = []
        self.ttfts: list[float] = []
        self.stream_tps: list[float] = []
        self.stream_durations: list[float] = []
        self.tokens = 0
        self.ok = 0
        self.errors = 0
        self.error_samples: list[str] = []
        self.open = 0
        self.max_open = 0
        self.measure_from = 0.0
        self.measure_until = math.inf
        self.deadline = math.inf
        self.connected = 0
        self.all_connected: asyncio.Event | None = None
        self.connect_failures = 0
        self.sent = 0

    def on_head(self, delta: int):
        self.open += delta
        if self.open > self.max_open:
            self.max_open = self.open

    def request_bytes(self, target) -> bytes:
        args = self.args
        payload = json.dumps(request_body(args), separators=(",", ":")).encode()
        headers = [
            f"POST {target.path or '/'} HTTP/1.1",
            f"Host: {target.netloc}",
            "Content-Type: application/json",
            "Accept: */*",
            "User-Agent: ollamaweb-bench",
            f"Content-Length: {len(payload)}",
        ]
        if args.api == "anthropic":
            headers.append(f"anthropic-version: {ANTHROPIC_VERSION}")
            if args.api_key:
                headers.append(f"x-api-key: {args.api_key}")
        elif args.api_key:
            headers.append(f"Authorization: Bearer {args.api_key}")
        headers += args.header or ()
        return ("\r\n".join(headers) + "\r\n\r\n").encode() + payload

    def error(self, message: str):
        self.errors += 1
        if len(self.error_samples) < MAX_ERROR_SAMPLES:
            self.error_samples.append(message[:300])

    async def connect(self, target):
        loop = asyncio.get_running_loop()
        delta_event = DELTA_EVENTS.get(self.args.api) if self.args.stream else None
        for attempt in range(20):
            try:
                _, protocol = await loop.create_connection(
                    lambda: ClientProtocol(self.on_head, delta_event), target.hostname, target.port
                )
                return protocol
            except OSError:
                self.connect_failures += 1
                if attempt == 19:
                    raise
                await asyncio.sleep(0.05 + 0.05 * attempt)
        raise RuntimeError("unreachable")

    async def worker(self, index: int, start_gate: asyncio.Event):
        target = self.targets[index % len(self.targets)]
        request = self.request_bytes(target)
        try:
            protocol = await self.connect(target)
        except OSError as exc:
            self.error(f"connect: {exc}")
            return
        finally:
            self.connected += 1
            if self.connected >= self.args.concurrency:
                self.all_connected.set()
        await start_gate.wait()
        done = 0
        try:
            while True:
                if self.args.requests_per_conn and done >= self.args.requests_per_conn:
                    break
                started = time.perf_counter()
                if not self.args.requests_per_conn and started >= self.deadline:
                    break
                if protocol.lost.done():
                    protocol = await self.connect(target)
                self.sent += 1
                response = await protocol.send(request)
                finished = time.perf_counter()
                done += 1
                self.record(response, started, finished)
                if not response.keep_alive or response.error:
                    protocol.transport.close()
                    protocol = await self.connect(target)
                if self.args.think_ms:
                    await asyncio.sleep(self.args.think_ms / 1000.0)
        except OSError as exc:
            self.error(f"reconnect: {exc}")
        finally:
            if protocol.transport is not None:
                protocol.transport.close()

    def record(self, response: Response, started: float, finished: float):
        if started < self.measure_from or started >= self.measure_until:
            return
        if response.error or response.status != 200:
            self.error(response.error or f"HTTP {response.status}")
            return
        if self.args.stream and response.tokens < self.args.expect_tokens:
            self.error(f"stream ended after {response.tokens} of {self.args.expect_tokens} tokens")
            return
        self.ok += 1
        self.latencies.append((finished - started) * 1000)
        self.tokens += response.tokens
        if self.args.stream and response.first_token is not None:
            self.ttfts.append((response.first_token - started) * 1000)
            if response.tokens > 1 and response.last_token > response.first_token:
                span = response.last_token - response.first_token
                self.stream_tps.append((response.tokens - 1) / span)
            self.stream_durations.append((finished - started) * 1000)

    async def run(self) -> dict:
        args = self.args
        loop = asyncio.get_running_loop()
        start_gate = asyncio.Event()
        self.all_connected = asyncio.Event()
        cpu0 = time.process_time()
        tasks = [loop.create_task(self.worker(i, start_gate)) for i in range(args.concurrency)]
        # Open every connection first, then start: connecting is not part of the measurement.
        try:
            await asyncio.wait_for(self.all_connected.wait(), 60)
        except TimeoutError:
            pass
        began = time.perf_counter()
        if args.requests_per_conn:
            self.measure_from = began
        else:
            self.measure_from = began + args.warmup
            self.measure_until = self.deadline = self.measure_from + args.duration
        start_gate.set()
        if args.requests_per_conn:
            await asyncio.gather(*tasks)
        else:
            await asyncio.sleep(max(0.0, self.deadline - time.perf_counter()))
            # In-flight requests started before the deadline: they finish and count.
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=max(60.0, args.duration * 4))
        ended = time.perf_counter()
        cpu = time.process_time() - cpu0
        wall = (ended if args.requests_per_conn else self.measure_until) - self.measure_from
        return {
            "url": args.url,
            "api": args.api,
            "model": args.model,
            "stream": args.stream,
            "concurrency": args.concurrency,
            "duration_s": wall,
            "requests": self.ok + self.errors,
            "sent_including_warmup": self.sent,
            "ok": self.ok,
            "errors": self.errors,
            "error_samples": self.error_samples,
            "connect_retries": self.connect_failures,
            "rps": self.ok / wall if wall > 0 else None,
            "latency_ms": summary(self.latencies),
            "ttft_ms": summary(self.ttfts),
            "stream_tokens_per_s": summary(self.stream_tps),
            "stream_duration_ms": summary(self.stream_durations),
            "tokens": self.tokens,
            "max_open_responses": self.max_open,
            "loadgen_cpu_s": cpu,
            "loadgen_cpu_percent": 100.0 * cpu / (ended - began) if ended > began else None,
            "loadgen_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        }


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", action="append", required=True, help="Target URL (repeat to spread connections).")
    parser.add_argument("--api", choices=APIS, default="openai", help="The request's protocol.")
    parser.add_argument("--model", default="bench")
    parser.add_argument("--prompt", default="Say hello to the benchmark.")
    parser.add_argument("--max-tokens", type=int, default=0)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--no-store", action="store_true", help="Responses: send store=false (default: stored).")
    parser.add_argument("--expect-tokens", type=int, default=1, help="A stream with fewer tokens is an error.")
    parser.add_argument("--api-key", default=os.environ.get("BENCH_API_KEY", ""))
    parser.add_argument("--header", action="append", metavar="'NAME: VALUE'", help="An extra request header.")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--duration", type=float, default=5.0, help="Measured seconds (after the warm-up).")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--think-ms", type=float, default=0.0, help="Pause after each response (an idle user).")
    parser.add_argument("--requests-per-conn", type=int, default=0, help="Fixed count per connection instead.")
    parser.add_argument("--json", default="-", help="Where to write the result (- for stdout).")
    parser.add_argument("--no-uvloop", action="store_true")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, args.concurrency * 2 + 256)), hard))
    except (ValueError, OSError):
        pass
    runner = asyncio.run
    if not args.no_uvloop:
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:
            pass
    result = runner(Load(args).run())
    text = json.dumps(result, indent=2)
    if args.json == "-":
        sys.stdout.write(text + "\n")
    else:
        with open(args.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
