"""A lean HTTP/1.1 client for Ollama backends: keep-alive connection pool, streamed bodies in bulk.

Why not httpx2/httpcore2 (used before): the gateway's hot path is "relay one NDJSON line per token".
Through httpx that cost ~110 µs of CPU per token (h11's line-by-line parsing, `aiter_lines`, several
generator layers), and httpcore2's pool scans every pooled connection on each request start and
stream close (`_assign_requests_to_connections`), which is quadratic when 1,000 streams open at once.
Here the pool is O(1) per request (a LIFO dict of idle connections per origin, a FIFO of waiters),
and a connection is an asyncio Protocol that parses chunked bodies in bulk: whatever arrived in one
read is handed over as one piece, so a consumer splits NDJSON once per read, not once per line.

Scope: what Ollama's API needs (methods with JSON bodies, Content-Length / chunked / close-delimited
responses, keep-alive, http and https, read/connect/pool timeouts). Errors are this module's
`HTTPError` subclasses; ollama.py maps them to gateway errors.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from urllib.parse import urlsplit

MAX_HEAD = 64 * 1024
HIGH_WATER = 256 * 1024  # unread body bytes at which the socket stops being read
MAX_LINE = 4096  # a chunk's size line or a trailer line, without its end
# A streamed body is handed over at most once per STREAM_LINGER seconds: a fast stream's tokens
# arrive one per socket read (Ollama writes each), and relaying each alone costs a wake-up, a parse
# and a send per token. One display frame (16 ms at 60 Hz): a reader sees tokens no sooner than the
# next frame anyway. The first bytes, and any after a pause longer than that, go at once. At 2,000
# tokens/s: 55 µs of CPU per token with 5 ms, 36 with 10 ms, 27 with 16 (bench/README.md, issue 14).
STREAM_LINGER = 0.016
PAUSE_AFTER = 0.05  # a body read for less long is never held with paused reads (see Connection._hold)
DRAIN_WAIT = 0.001  # after a hold with paused reads: how long the first read after it may take


class HTTPError(Exception):
    pass


class ConnectError(HTTPError):
    pass


class ConnectTimeout(ConnectError):
    pass


class ReadTimeout(HTTPError):
    pass


class PoolTimeout(HTTPError):
    pass


class RemoteProtocolError(HTTPError):
    """The server closed the connection early or sent something that is not HTTP/1.1."""


class InvalidResponse(RemoteProtocolError):
    """What the server sent is not an HTTP/1.1 response."""


class Origin:
    """scheme://host:port, the request-target prefix, and the constant part of every request head."""

    __slots__ = ("key", "scheme", "host", "port", "prefix", "ssl")

    def __init__(self, base_url: str):
        parts = urlsplit(base_url)
        self.scheme = parts.scheme or "http"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        self.key = (self.scheme, self.host, self.port)
        self.ssl = ssl.create_default_context() if self.scheme == "https" else None

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


_NEVER = float("inf")
_NEVER_HANDED = float("-inf")

# Parser states
_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILER, _UNTIL_CLOSE, _DONE = range(8)


class Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time."""

    def __init__(self, pool: Pool, origin_key):
        self.pool = pool
        self.origin_key = origin_key
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.reused = False
        self._state = _DONE
        self._buffer = b""  # unparsed bytes (head, chunk sizes)
        self._remaining = 0  # of a Content-Length body or of the current chunk
        self._pieces: list[bytes] = []  # body bytes not yet taken by the reader
        self._unread = 0
        self._paused = False  # reading stopped: HIGH_WATER unread bytes, or holding with paused reads
        self._waiter: asyncio.Future | None = None
        self._timer: asyncio.TimerHandle | None = None  # ends a hold
        self._deadline_timer: asyncio.TimerHandle | None = None  # the read timeout (see _wait)
        self._deadline = 0.0  # loop time by which the awaited bytes must come
        self._error: BaseException | None = None
        self._got_bytes = False
        self.status = 0
        self.headers: dict[str, str] = {}
        self.keep_alive = True
        self._head_only = False
        self._holding = False  # read_some(linger=...) is gathering what arrives before handing it over
        self._hold_paused = False  # ... with the socket's reading paused (see _hold)
        self._draining = False  # ... and now reading again: the next bytes end it
        self._paused_ahead = False  # a fast stream's socket left unread after a hand-over (see read_some)
        self._first_handed_at = 0.0  # loop time of the body's first hand-over
        self._handed_at = _NEVER_HANDED  # loop time read_some last handed bytes over

    # -- asyncio protocol --------------------------------------------------------------------

    def connection_made(self, transport):
        self.transport = transport

    def connection_lost(self, exc):
        self.closed = True
        self._hold_paused = False  # a hold ends at once
        self.stop_timer()
        if self._state == _UNTIL_CLOSE:
            self._state = _DONE
        elif (self._state != _DONE or self._waiter is not None) and self._error is None:
            self._error = RemoteProtocolError("The server closed the connection before the response was complete.")
        self._wake()
        self.pool._forget(self)

    def pause_writing(self):  # request bodies are written at once; nothing to pause
        pass

    def resume_writing(self):
        pass

    def data_received(self, data: bytes):
        self._got_bytes = True
        if self._state == _DONE:
            return  # bytes after a complete response: ignored, the connection will not be reused
        try:
            self._feed(data)
        except (ValueError, IndexError):
            self._error = InvalidResponse("The server sent an invalid HTTP response.")
            self.keep_alive = False
            self.transport.close()
        self._wake()

    # -- parsing -----------------------------------------------------------------------------

    def _feed(self, data: bytes):
        if self._buffer:
            data = self._buffer + data
            self._buffer = b""
        state = self._state
        pos, end = 0, len(data)
        pieces = self._pieces
        if state == _HEAD:
            head_end = data.find(b"\r\n\r\n")
            if head_end < 0:
                if end > MAX_HEAD:
                    raise ValueError("head too large")
                self._buffer = data
                return
            state = self._parse_head(data[:head_end])
            pos = head_end + 4
        while pos < end or state in (_DONE,):
            if state == _LENGTH:
                take = min(self._remaining, end - pos)
                pieces.append(data[pos : pos + take] if pos or take != end else data)
                self._unread += take
                self._remaining -= take
                pos += take
                if self._remaining == 0:
                    state = _DONE
            elif state == _CHUNK_SIZE:
                line_end = data.find(b"\r\n", pos)
                if line_end < 0:
                    self._buffer = _unended_line(data, pos)
                    break
                size = int(data[pos:line_end].split(b";", 1)[0], 16)
                if size < 0:  # int() takes "-6": the parser would go back over what it had read
                    raise ValueError("negative chunk size")
                pos = line_end + 2
                if size == 0:
                    state = _TRAILER
                elif data[pos + size : pos + size + 2] == b"\r\n":  # the whole chunk is here: one step
                    pieces.append(data[pos : pos + size])
                    self._unread += size
                    pos += size + 2
                else:
                    self._remaining = size
                    state = _CHUNK_DATA
            elif state == _CHUNK_DATA:
                take = min(self._remaining, end - pos)
                pieces.append(data[pos : pos + take])
                self._unread += take
                self._remaining -= take
                pos += take
                if self._remaining == 0:
                    state = _CHUNK_END
            elif state == _CHUNK_END:
                if end - pos < 2:
                    self._buffer = data[pos:]
                    break
                if data[pos : pos + 2] != b"\r\n":
                    raise ValueError("bad chunk end")
                pos += 2
                state = _CHUNK_SIZE
            elif state == _TRAILER:
                line_end = data.find(b"\r\n", pos)
                if line_end < 0:
                    self._buffer = _unended_line(data, pos)
                    break
                if line_end == pos:  # the empty line that ends the trailers
                    pos += 2
                    state = _DONE
                else:
                    pos = line_end + 2
            elif state == _UNTIL_CLOSE:
                pieces.append(data[pos:] if pos else data)
                self._unread += end - pos
                pos = end
            else:  # _DONE
                if pos < end:
                    self.keep_alive = False  # unexpected extra bytes
                break
        self._state = state
        if self._unread > HIGH_WATER and not self._paused:
            self._paused = True
            self.transport.pause_reading()

    def _parse_head(self, head: bytes) -> int:
        status_line, *lines = head.decode("latin-1").split("\r\n")
        version, status, *_ = status_line.split(" ", 2)
        if not version.startswith("HTTP/1.") or not _decimal(status) or len(status) != 3:
            raise ValueError("not an HTTP/1.x status line")
        self.status = int(status)
        headers = self.headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        connection = headers.get("connection", "").lower()
        self.keep_alive = connection == "keep-alive" if version == "HTTP/1.0" else connection != "close"
        if 100 <= self.status < 200:
            raise ValueError("informational responses are not supported")
        if self._head_only or self.status in (204, 304):
            return _DONE
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return _CHUNK_SIZE
        if "content-length" in headers:
            if not _decimal(headers["content-length"]):  # int() takes "-5", "+5" and "5_0"
                raise ValueError("bad Content-Length")
            self._remaining = int(headers["content-length"])
            return _LENGTH if self._remaining else _DONE
        self.keep_alive = False
        return _UNTIL_CLOSE

    # -- the reader's side -------------------------------------------------------------------

    def _wake(self):
        if self._holding and self._hold_paused:
            return  # only the hold's timer ends a hold with paused reads (or closing, cancelling)
        if (
            self._holding
            and not self._draining
            and self._state != _DONE
            and self._error is None
            and self._unread < HIGH_WATER
        ):
            return  # more bytes while lingering: they join the held ones
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _check_deadline(self):
        """The read timeout's one timer per connection: it fires at the earliest deadline it was
        set for and, if a later wait moved the deadline, sets itself again for that one."""
        self._deadline_timer = None
        if self._waiter is None or self.closed:
            return  # nobody waits: the next wait sets the timer again
        loop = asyncio.get_running_loop()
        if loop.time() < self._deadline:
            if self._deadline != _NEVER:
                self._deadline_timer = loop.call_at(self._deadline, self._check_deadline)
            return
        if self._error is None:
            self._error = ReadTimeout("The server did not answer in time.")
        self._wake()

    async def _wait(self, timeout: float | None):
        """Wait for bytes (or the end, or an error), at most `timeout` seconds.

        A stream waits once per read: rather than a timer set up and cancelled for each, the
        connection keeps one and only moves its deadline (_check_deadline)."""
        loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        self._deadline = _NEVER if timeout is None else loop.time() + timeout
        if self._deadline_timer is None and timeout is not None:
            self._deadline_timer = loop.call_at(self._deadline, self._check_deadline)
        try:
            await waiter
        finally:
            if self._waiter is waiter:  # cancelled
                self._waiter = None

    def _end_hold(self):
        self._timer = None
        if self._hold_paused:  # what waits in the kernel comes first: the next read ends the hold
            self._hold_paused = self._paused = False
            self._draining = True
            self.transport.resume_reading()
            self._timer = asyncio.get_running_loop().call_later(DRAIN_WAIT, self._end_hold)
            return
        self._holding = False
        self._wake()

    async def _hold(self, until: float, pause: bool):
        """Wait until `until` (loop time) while bytes accumulate; the end of the body, an error or
        HIGH_WATER unread bytes end it sooner.

        With `pause`, the socket is not even read meanwhile: what arrives waits in the kernel, and
        when the time is up reading resumes and the hold ends with the next read (or DRAIN_WAIT
        later if nothing came), so one system call and one parse take everything. The end of the
        body is then only seen when the hold ends."""
        loop = asyncio.get_running_loop()
        if pause:
            if not self._paused:
                self.transport.pause_reading()
            self._paused = self._hold_paused = True
        self._holding = True
        self._waiter = waiter = loop.create_future()
        self._timer = loop.call_at(until, self._end_hold)
        try:
            await waiter
        finally:
            self._holding = self._draining = False
            if self._waiter is waiter:  # cancelled
                self._waiter = None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._hold_paused:  # ended early (cancelled, closed): read again
                self._hold_paused = self._paused = False
                if not self.closed:
                    self.transport.resume_reading()

    def start(self, request: bytes, head_only: bool):
        self._state, self._buffer, self._pieces, self._unread = _HEAD, b"", [], 0
        self._handed_at, self._paused_ahead = _NEVER_HANDED, False
        self._error, self._got_bytes, self._head_only = None, False, head_only
        self.transport.write(request)

    async def read_head(self, timeout: float | None):
        while self._state == _HEAD:
            if self._error is not None:
                raise self._error
            if self.closed:
                raise RemoteProtocolError("The server closed the connection without answering.")
            await self._wait(timeout)
        if self._error is not None and not self._pieces and self._state != _DONE:
            raise self._error

    async def read_some(self, timeout: float | None, linger: float = 0.0, pause: bool = False) -> bytes:
        """The body bytes received so far (all of them, joined), waiting for some; b"" at the end.

        With `linger` (seconds), bytes are handed over at most once per `linger`: a call that comes
        sooner after the last hand-over waits out the rest of it, gathering what arrives meanwhile
        (a fast stream's tokens then cost one wake-up, parse and write per `linger`, not per token).
        The first bytes, and bytes after a pause longer than `linger`, are handed over at once.

        With `pause` too, a fast stream (bytes came again within `linger` of a hand-over) is not
        read at all until its next linger is up: its socket is left paused after each hand-over, so
        the next one costs one wake-up and one read, not two of each. When nothing came by then
        (the stream slowed), reading goes on as usual and the next bytes are handed over at once.
        """
        fast = False
        if self._paused_ahead:
            self._paused_ahead = False
            await self._hold(self._handed_at + linger, True)
            fast = bool(self._pieces)
        while not self._pieces:
            if self._state == _DONE:
                return b""
            if self._error is not None:
                raise self._error
            await self._wait(timeout)
        if linger:
            now = asyncio.get_running_loop().time()
            if self._handed_at == _NEVER_HANDED:
                self._first_handed_at = now
            until = self._handed_at + linger
            if now < until and self._state != _DONE and self._error is None and self._unread < HIGH_WATER:
                # Only a body that has been coming for a while is held with paused reads: a short
                # burst (a few tokens at once) is not kept waiting for a linger at its end.
                fast = pause and now - self._first_handed_at >= PAUSE_AFTER
                await self._hold(until, fast)
            self._handed_at = max(now, until)
        pieces = self._pieces
        data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        self._pieces = []
        self._unread = 0
        if fast and self._state != _DONE and self._error is None and not self.closed:
            self._paused_ahead = True
            if not self._paused:
                self._paused = True
                self.transport.pause_reading()
        elif self._paused:
            self._paused = False
            self.transport.resume_reading()
        return data

    @property
    def complete(self) -> bool:
        return self._state == _DONE and not self._pieces

    def close(self):
        self.keep_alive = False
        self.stop_timer()
        if self.transport is not None and not self.closed:
            self.transport.close()

    def stop_timer(self):
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
            self._deadline_timer = None


def _decimal(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _unended_line(data: bytes, pos: int) -> bytes:
    """What is kept of a line whose end has not come yet: at most MAX_LINE bytes, or ValueError."""
    if len(data) - pos > MAX_LINE:
        raise ValueError("line too long")
    return data[pos:]


class Response:
    __slots__ = ("status", "headers", "_connection", "_pool", "_timeout", "_released")

    def __init__(self, connection: Connection, pool: Pool, timeout: float | None):
        self.status = connection.status
        self.headers = connection.headers
        self._connection = connection
        self._pool = pool
        self._timeout = timeout
        self._released = False

    async def read_some(self, linger: float = STREAM_LINGER, pause: bool = False) -> bytes:
        """The next bytes of a streamed body (everything that arrived together, at most one
        hand-over per `linger` seconds, with the socket unread meanwhile if `pause`: see
        Connection.read_some); b"" once it is complete."""
        data = await self._connection.read_some(self._timeout, linger, pause)
        if not data:
            self.close()
        return data

    async def read(self) -> bytes:
        """The whole body."""
        parts = []
        while data := await self.read_some(0.0):
            parts.append(data)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def close(self):
        """Give the connection back (if the response was read to the end) or close it."""
        if not self._released:
            self._released = True
            self._pool._release(self._connection)


class Pool:
    """Keep-alive connections to any number of origins, at most `max_connections` open at once.

    Every operation is O(1) in the number of connections: idle connections are kept per origin in
    an insertion-ordered dict (newest reused first, so surplus ones age out on the server's side),
    and requests that find the pool full wait in FIFO order for a connection or a free slot.
    """

    def __init__(
        self,
        max_connections: int = 1024,
        max_idle: int = 256,
        connect_timeout: float | None = 5.0,
        read_timeout: float | None = 300.0,
        pool_timeout: float | None = 30.0,
    ):
        self.max_connections = max_connections
        self.max_idle = max_idle
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.pool_timeout = pool_timeout
        self._idle: dict[tuple, dict[Connection, None]] = {}
        self._idle_count = 0
        self._open = 0  # connections open or being opened
        self._waiters: deque[tuple[tuple, asyncio.Future]] = deque()
        self._origins: dict[str, Origin] = {}
        self.closed = False
        self.opened = 0  # connections opened so far (for tests and diagnostics)

    @property
    def open_connections(self) -> int:
        return self._open

    def origin(self, base_url: str) -> Origin:
        origin = self._origins.get(base_url)
        if origin is None:
            origin = self._origins[base_url] = Origin(base_url)
        return origin

    async def request(
        self, origin: Origin, method: str, path: str, headers: bytes = b"", body: bytes | None = None
    ) -> Response:
        """Send a request; the response once its head arrived (read or close it to free the connection).

        `headers` are extra header lines, each ending with CRLF. `body` is let go of once copied into
        the request: orjson's output keeps the whole buffer it grew while writing (13 times a long
        string's length, 100 times a list of numbers'), and a request may wait seconds for its head.
        """
        body = body or b""
        head = (
            f"{method} {origin.prefix}{path} HTTP/1.1\r\nHost: {origin.host_header}\r\nContent-Length: {len(body)}\r\n"
        ).encode("latin-1")
        request = head + headers + b"\r\n" + body
        del body
        for attempt in (0, 1):
            connection = await self._acquire(origin)
            try:
                connection.start(request, method == "HEAD")
                await connection.read_head(self.read_timeout)
            except RemoteProtocolError:
                self._release(connection)
                # A reused connection the server closed while idle: send once more on a new one.
                if attempt == 0 and connection.reused and not connection._got_bytes:
                    continue
                raise
            except BaseException:
                connection.close()
                self._release(connection)
                raise
            return Response(connection, self, self.read_timeout)
        raise AssertionError("unreachable")

    # -- slots ------------------------------------------------------------------------------

    async def _acquire(self, origin: Origin) -> Connection:
        if self.closed:
            raise PoolTimeout("The connection pool is closed.")
        idle = self._idle.get(origin.key)
        while idle:
            connection, _ = idle.popitem()
            self._idle_count -= 1
            if not connection.closed:
                connection.reused = True
                return connection
        if self._open >= self.max_connections and self._idle_count:
            self._close_one_idle()  # idle connections to another origin make room
        if self._open < self.max_connections:
            return await self._connect(origin)
        waiter = asyncio.get_running_loop().create_future()
        entry = (origin.key, waiter)
        self._waiters.append(entry)
        try:
            async with asyncio.timeout(self.pool_timeout):
                connection = await waiter
        except TimeoutError:
            raise PoolTimeout("No connection to the backend became available in time.") from None
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                given = waiter.result()
                if given is not None:
                    self._release(given)
                else:
                    self._slot_freed()
            else:
                try:
                    self._waiters.remove(entry)
                except ValueError:
                    pass
            raise
        if connection is None:  # a slot was freed for us: open a new connection (slot already counted)
            self._open -= 1
            return await self._connect(origin)
        connection.reused = True
        return connection

    async def _connect(self, origin: Origin) -> Connection:
        self._open += 1
        self.opened += 1
        loop = asyncio.get_running_loop()
        connection = Connection(self, origin.key)
        try:
            async with asyncio.timeout(self.connect_timeout):
                await loop.create_connection(
                    lambda: connection,
                    origin.host,
                    origin.port,
                    ssl=origin.ssl,
                    server_hostname=origin.host if origin.ssl else None,
                )
        except TimeoutError:
            self._slot_freed()
            raise ConnectTimeout(f"Connecting to {origin.host}:{origin.port} timed out.") from None
        except OSError as exc:
            self._slot_freed()
            raise ConnectError(f"Cannot connect to {origin.host}:{origin.port}: {exc}") from exc
        except BaseException:
            self._slot_freed()
            raise
        return connection

    def _release(self, connection: Connection):
        """After a response: reuse the connection (next waiter first) or close it."""
        if connection.closed:
            return  # _forget has counted it
        if not (connection.keep_alive and connection.complete) or self.closed:
            connection.close()  # _forget follows from connection_lost
            return
        while self._waiters:
            key, waiter = self._waiters.popleft()
            if waiter.done():
                continue
            if key == connection.origin_key:
                waiter.set_result(connection)
                return
            self._waiters.appendleft((key, waiter))
            connection.close()  # its slot goes to the waiter for another origin (via _forget)
            return
        if self._idle_count >= self.max_idle:
            connection.close()
            return
        self._idle.setdefault(connection.origin_key, {})[connection] = None
        self._idle_count += 1

    def _forget(self, connection: Connection):
        """connection_lost: the connection's slot is free."""
        idle = self._idle.get(connection.origin_key)
        if idle is not None and idle.pop(connection, 0) is None:
            self._idle_count -= 1
        self._slot_freed()

    def _slot_freed(self):
        self._open -= 1
        while self._waiters:
            _key, waiter = self._waiters.popleft()
            if not waiter.done():
                self._open += 1  # reserved for the waiter, which opens a connection
                waiter.set_result(None)
                return

    def _close_one_idle(self):
        for idle in self._idle.values():
            if idle:
                connection = next(iter(idle))
                del idle[connection]
                self._idle_count -= 1
                connection.close()
                return

    async def aclose(self):
        self.closed = True
        for idle in self._idle.values():
            for connection in list(idle):
                connection.close()
            idle.clear()
        self._idle_count = 0
        await asyncio.sleep(0)
