"""The lean HTTP/1.1 client (ollamaweb/core/http11.py) against the fake Ollama and hand-made byte streams."""

import asyncio
import json

import pytest

from ollamaweb.core import http11
from tests.fake_ollama import FakeOllama, Reply

CHAT = {"model": "llama3", "messages": [{"role": "user", "content": "hi"}]}
JSON_HEADERS = b"Content-Type: application/json\r\n"


@pytest.fixture
def fake():
    with FakeOllama() as server:
        server.add_model("llama3")
        yield server


@pytest.fixture
def reads(monkeypatch) -> list[bytes]:
    """What each socket read of an http11 connection returned, in order."""
    reads = []
    received = http11.Connection.data_received
    monkeypatch.setattr(
        http11.Connection, "data_received", lambda self, data: (reads.append(data), received(self, data))
    )
    return reads


def post(pool, fake, body, path="/api/chat"):
    return pool.request(pool.origin(fake.url), "POST", path, JSON_HEADERS, json.dumps(body).encode())


def ndjson(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.splitlines() if line.strip()]


def test_keep_alive_reuses_one_connection(fake):
    async def scenario():
        pool = http11.Pool()
        bodies = []
        for _ in range(3):
            response = await post(pool, fake, {**CHAT, "stream": False})
            bodies.append(json.loads(await response.read()))
        await pool.aclose()
        return bodies, pool.opened

    bodies, opened = asyncio.run(scenario())
    assert [b["message"]["content"] for b in bodies] == ["Hello there, friend!"] * 3
    assert opened == 1


def test_a_chunked_stream_is_read_whole(fake):
    fake.reply = Reply(content="one two three four", token_delay=0.01)

    async def scenario():
        pool = http11.Pool()
        response = await post(pool, fake, CHAT)
        data = await response.read()
        await pool.aclose()
        return response.status, response.headers, data

    status, headers, data = asyncio.run(scenario())
    assert status == 200 and headers["content-type"] == "application/x-ndjson"
    lines = ndjson(data)
    assert "".join(line["message"]["content"] for line in lines) == "one two three four"
    assert lines[-1]["done"] is True


class _Transport:
    def __init__(self):
        self.written, self.closed, self.paused = [], False, False

    def write(self, data):
        self.written.append(data)

    def close(self):
        self.closed = True

    def pause_reading(self):
        self.paused = True

    def resume_reading(self):
        self.paused = False


FIRST, SECOND = b'{"a": 1}\n', b'{"b": "' + b"x" * 17 + b'"}\n'
CHUNKED = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n"
    + b"%x\r\n%s\r\n" % (len(FIRST), FIRST)
    + b"%X;ext=1\r\n%s\r\n" % (len(SECOND), SECOND)
    + b"0\r\nTrailer: yes\r\n\r\n"
)


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, len(CHUNKED)])
def test_chunked_parsing_survives_any_split(size):
    """The response cut into pieces of `size` bytes (or in one piece: every chunk whole) parses to
    the same body and leaves the connection reusable."""

    async def scenario():
        pool = http11.Pool()
        connection = http11.Connection(pool, ("http", "h", 1))
        connection.connection_made(_Transport())
        connection.start(b"GET / HTTP/1.1\r\n\r\n", head_only=False)
        for i in range(0, len(CHUNKED), size):
            connection.data_received(CHUNKED[i : i + size])
        await connection.read_head(1)
        parts = []
        while data := await connection.read_some(1):
            parts.append(data)
        return b"".join(parts), connection

    body, connection = asyncio.run(scenario())
    assert body == FIRST + SECOND
    assert connection.complete and connection.keep_alive


@pytest.mark.parametrize("size", [1, 5, len(CHUNKED)])
def test_a_chunk_that_does_not_end_where_its_size_says_is_an_invalid_response(size):
    """Whether the chunk arrives whole or in pieces: a protocol error, and the connection is not reused."""
    bad = CHUNKED.replace(b"%s\r\n" % FIRST, FIRST + b"!\r\n", 1)

    async def scenario():
        pool = http11.Pool()
        connection = http11.Connection(pool, ("http", "h", 1))
        connection.connection_made(transport := _Transport())
        connection.start(b"GET / HTTP/1.1\r\n\r\n", head_only=False)
        for i in range(0, len(bad), size):
            if transport.closed:  # as a real transport: nothing is received once it is closed
                break
            connection.data_received(bad[i : i + size])
        with pytest.raises(http11.RemoteProtocolError):
            await connection.read_head(1)
            while await connection.read_some(1):
                pass
        return connection

    connection = asyncio.run(scenario())
    assert not connection.keep_alive


def _fed(response: bytes) -> http11.Connection:
    """A connection that received `response` (in one piece), its body read to its end or error."""

    async def scenario():
        connection = http11.Connection(http11.Pool(), ("http", "h", 1))
        connection.connection_made(_Transport())
        connection.start(b"GET / HTTP/1.1\r\n\r\n", head_only=False)
        connection.data_received(response)
        with pytest.raises(http11.RemoteProtocolError):
            await connection.read_head(1)
            while await connection.read_some(1):
                pass
        return connection

    return asyncio.run(scenario())


@pytest.mark.timeout(10)
@pytest.mark.parametrize("size", [b"-6", b"-2", b"-9", b"g", b""], ids=repr)
def test_a_chunk_size_that_is_negative_or_not_hex_is_an_invalid_response(size):
    """A negative size used to send the parser back over bytes it had read: -6 after a chunk, back
    to its own line, for ever (the event loop stuck); -9, data from the previous chunk."""
    head = CHUNKED[: CHUNKED.index(b"\r\n\r\n") + 4]
    connection = _fed(head + _chunk(FIRST) + size + b"\r\n" + FIRST + b"\r\n0\r\n\r\n")
    assert not connection.keep_alive


@pytest.mark.parametrize("line", [b"9" * 5000, b"0\r\nTrailer: " + b"x" * 5000], ids=["size", "trailer"])
def test_a_size_or_trailer_line_that_never_ends_is_an_invalid_response(line):
    """Bytes without a line's end are not kept without bound."""
    head = CHUNKED[: CHUNKED.index(b"\r\n\r\n") + 4]
    assert not _fed(head + _chunk(FIRST) + line).keep_alive


@pytest.mark.parametrize("length", [b"-5", b"+5", b"5_0", b"0x5", b"\xb2", b""], ids=repr)
def test_a_content_length_that_is_not_a_decimal_number_is_an_invalid_response(length):
    """int() takes "-5" (the parser then went back over what it had read), "+5" and "5_0"."""
    assert not _fed(b"HTTP/1.1 200 OK\r\nContent-Length: " + length + b"\r\n\r\nhello").keep_alive


@pytest.mark.parametrize("status", [b"-1", b"+20", b"99", b"2000", b"20x", b"\xb2\xb2\xb2"], ids=repr)
def test_a_status_that_is_not_three_digits_is_an_invalid_response(status):
    assert not _fed(b"HTTP/1.1 " + status + b" OK\r\nContent-Length: 5\r\n\r\nhello").keep_alive


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def test_a_lingering_reader_gets_what_arrives_meanwhile_in_one_piece():
    """read_some(linger=L): the first bytes at once; a read sooner than L after the last hand-over
    waits out the rest of L and gets everything that arrived meanwhile; the end of the body, or
    bytes after a pause longer than L, are handed over at once."""
    linger = 0.1

    async def scenario():
        loop = asyncio.get_running_loop()
        connection = http11.Connection(http11.Pool(), ("http", "h", 1))
        connection.connection_made(_Transport())
        connection.start(b"POST /api/chat HTTP/1.1\r\n\r\n", head_only=False)
        connection.data_received(CHUNKED.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n" + _chunk(b"a\n"))
        await connection.read_head(1)
        t0 = loop.time()
        reads = [(await connection.read_some(1, linger), loop.time() - t0)]
        connection.data_received(_chunk(b"b\n"))
        loop.call_later(0.02, connection.data_received, _chunk(b"c\n"))
        reads.append((await connection.read_some(1, linger), loop.time() - t0))
        await asyncio.sleep(linger * 1.5)  # a pause: what comes next goes at once
        connection.data_received(_chunk(b"d\n"))
        started = loop.time()
        reads.append((await connection.read_some(1, linger), loop.time() - started))
        loop.call_later(0.02, connection.data_received, _chunk(b"e\n") + b"0\r\n\r\n")
        started = loop.time()
        reads.append((await connection.read_some(1, linger), loop.time() - started))
        reads.append((await connection.read_some(1, linger), 0.0))
        return reads, connection

    reads, connection = asyncio.run(scenario())
    (first, first_at), (second, second_at), (third, third_wait), (last, last_wait), (end, _) = reads
    assert first == b"a\n" and first_at < linger / 2
    assert second == b"b\nc\n" and second_at >= linger * 0.9
    assert third == b"d\n" and third_wait < linger / 2
    assert last == b"e\n" and last_wait < linger * 0.8  # the body ended: no waiting out the linger
    assert end == b"" and connection.complete


def test_the_pool_never_opens_more_than_its_limit_and_serves_waiters(fake):
    fake.reply = Reply(content="a b c", token_delay=0.02)

    async def scenario():
        pool = http11.Pool(max_connections=2)

        async def one():
            response = await post(pool, fake, CHAT)
            return ndjson(await response.read())[-1]["done"]

        done = await asyncio.gather(*(one() for _ in range(10)))
        await pool.aclose()
        return done

    assert asyncio.run(scenario()) == [True] * 10
    assert fake.max_active <= 2
    assert fake.completed == 10


def test_pool_timeout_when_every_connection_stays_busy(fake):
    fake.reply = Reply(content="a b c", hang_after=1)

    async def scenario():
        pool = http11.Pool(max_connections=1, pool_timeout=0.2)
        hung = await post(pool, fake, CHAT)
        with pytest.raises(http11.PoolTimeout):
            await post(pool, fake, CHAT)
        hung.close()
        await pool.aclose()

    asyncio.run(scenario())


def test_read_timeout(fake):
    fake.reply = Reply(first_token_delay=2)

    async def scenario():
        pool = http11.Pool(read_timeout=0.2)
        with pytest.raises(http11.ReadTimeout):
            await post(pool, fake, CHAT)
        await pool.aclose()

    asyncio.run(scenario())


def test_closing_a_stream_early_closes_its_connection(fake):
    fake.reply = Reply(content="a b c d e f g h", token_delay=0.05)

    async def scenario():
        pool = http11.Pool()
        response = await post(pool, fake, CHAT)
        assert await response.read_some()
        response.close()
        await asyncio.sleep(0.05)
        open_after = pool.open_connections
        await pool.aclose()
        return open_after

    assert asyncio.run(scenario()) == 0
    fake.wait_for(lambda: fake.cancelled == 1)


def test_a_connection_the_server_closed_while_idle_is_not_reused(fake):
    async def scenario():
        pool = http11.Pool()
        response = await post(pool, fake, {**CHAT, "stream": False})
        await response.read()
        fake.stop()  # aborts every connection, the idle one included
        fake.start()
        await asyncio.sleep(0.05)
        response = await post(pool, fake, {**CHAT, "stream": False})
        body = json.loads(await response.read())
        await pool.aclose()
        return body

    port = None

    def restart_on_same_port():
        nonlocal port
        port = fake._port
        fake._requested_port = port

    restart_on_same_port()
    assert asyncio.run(scenario())["done"] is True


def test_unreachable_backend_is_a_connect_error():
    async def scenario():
        pool = http11.Pool(connect_timeout=1)
        with pytest.raises(http11.ConnectError):
            await pool.request(pool.origin("http://127.0.0.1:1"), "GET", "/api/tags")
        assert pool.open_connections == 0

    asyncio.run(scenario())


def test_a_paused_hold_leaves_the_socket_unread_and_loses_nothing(fake, reads):
    """read_some(linger, pause=True): once a fast stream has been coming for PAUSE_AFTER, the socket
    is not read while its bytes are gathered, so they come in a few reads (not one per token),
    whole and in order, to the end."""
    words = " ".join(f"t{i}" for i in range(150))
    fake.reply = Reply(content=words, token_delay=0.002)

    async def scenario(pause):
        pool = http11.Pool()
        response = await post(pool, fake, CHAT)
        parts = []
        while data := await response.read_some(0.05, pause=pause):
            parts.append(data)
        await pool.aclose()
        return b"".join(parts)

    body = asyncio.run(scenario(pause=True))
    objects = ndjson(body)
    assert "".join(o["message"]["content"] for o in objects[:-1]) == words
    assert objects[-1]["done"] is True
    assert len(reads) < 60  # 151 chunks: one read each for the first 50 ms, then about one per 50 ms

    reads.clear()
    assert len(ndjson(asyncio.run(scenario(pause=False)))) == len(objects)
    assert len(reads) > 100  # without pause, about one read per chunk


def test_a_fast_stream_is_read_once_per_hand_over(fake, reads):
    """Once a stream is fast (bytes came again within the linger of a hand-over), its socket stays
    unread from one hand-over to the next: each hand-over then costs one read, not a read of the
    token that started the hold and another of the rest."""
    words = " ".join(f"t{i}" for i in range(300))
    fake.reply = Reply(content=words, token_delay=0.001)

    async def scenario():
        pool = http11.Pool()
        response = await post(pool, fake, CHAT)
        loop = asyncio.get_running_loop()
        started, parts, hand_overs = loop.time(), [], []  # (seconds since the start, reads so far)
        while data := await response.read_some(0.02, pause=True):
            parts.append(data)
            hand_overs.append((loop.time() - started, len(reads)))
        await pool.aclose()
        return b"".join(parts), hand_overs

    body, hand_overs = asyncio.run(scenario())
    objects = ndjson(body)
    assert "".join(o["message"]["content"] for o in objects[:-1]) == words
    assert objects[-1]["done"] is True
    steady = [reads_so_far for at, reads_so_far in hand_overs if at > 0.1]  # every 20 ms, ~20 tokens each
    count, steady_reads = len(steady) - 1, steady[-1] - steady[0]
    assert count >= 5
    assert steady_reads <= count * 1.4  # was two reads per hand-over


def test_the_read_timeout_is_per_wait_not_per_stream(fake):
    """One timer per connection, moved at each wait: a stream slower in total than the read
    timeout but never silent that long goes on; one that falls silent times out."""
    fake.reply = Reply(content="a b c d e f g h", token_delay=0.06)

    async def scenario(hang_after=None):
        pool = http11.Pool(read_timeout=0.2)
        try:
            response = await post(pool, fake, CHAT)
            parts = []
            while data := await response.read_some(0.0):
                parts.append(data)
            return ndjson(b"".join(parts))[-1]["done"]
        finally:
            await pool.aclose()

    assert asyncio.run(scenario()) is True  # ~0.5 s in all
    fake.reply = Reply(content="a b c d e f g h", token_delay=0.06, hang_after=3)
    with pytest.raises(http11.ReadTimeout):
        asyncio.run(scenario())
