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


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64])
def test_chunked_parsing_survives_any_split(size):
    """The response cut into pieces of `size` bytes parses to the same body and leaves the connection reusable."""

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
