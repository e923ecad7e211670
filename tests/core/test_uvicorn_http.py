"""The head of a response goes out in the same write as its first body bytes (core/uvicorn_http.py)."""

import asyncio
import socket
import time

import pytest
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ollamaweb.core.uvicorn_http import HttpProtocol
from tests.gateway_server import GatewayServer

HEAD = [(b"content-type", b"text/plain")]


class _Recorder:
    """The connection's transport, keeping every write."""

    def __init__(self, transport, writes: list):
        self._transport, self._writes = transport, writes

    def write(self, data):
        self._writes.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name):
        return getattr(self._transport, name)


def recording(protocol_class, writes: list):
    class Recording(protocol_class):
        def connection_made(self, transport):
            super().connection_made(_Recorder(transport, writes))

    return Recording


async def app(scope, receive, send):
    """/plain: head and body in one pass; /late: the body 0.3 s after the head; /twice: two body messages."""
    path = scope["path"]
    await send({"type": "http.response.start", "status": 200, "headers": HEAD})
    if path == "/late":
        await asyncio.sleep(0.3)
    await send({"type": "http.response.body", "body": b"first", "more_body": path == "/twice"})
    if path == "/twice":
        await send({"type": "http.response.body", "body": b"second"})


@pytest.fixture
def serve():
    servers = []

    def start(protocol_class):
        writes = []
        servers.append(GatewayServer(app, http=recording(protocol_class, writes), lifespan="off").start())
        return servers[-1].url.rsplit(":", 1)[1], writes

    yield start
    for server in servers:
        server.stop()


def exchange(port: str, request: bytes, until: bytes, timeout=5.0) -> tuple[bytes, list[float]]:
    """What the server answered up to `until`, and when (seconds after sending) each piece came."""
    with socket.create_connection(("127.0.0.1", int(port)), timeout=timeout) as client:
        started = time.monotonic()
        client.sendall(request)
        received, times = b"", []
        while until not in received:
            piece = client.recv(65536)
            if not piece:
                break
            received += piece
            times.append(time.monotonic() - started)
        return received, times


def get(path: str, method="GET") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode()


@pytest.mark.parametrize(
    "protocol_class, expected_writes", [(HttpProtocol, 1), (HttpToolsProtocol, 2)], ids=["ours", "uvicorn's"]
)
def test_a_head_and_the_body_of_the_same_pass_go_out_in_one_write(serve, protocol_class, expected_writes):
    port, writes = serve(protocol_class)
    received, _ = exchange(port, get("/plain"), b"first\r\n0\r\n\r\n")
    assert received.startswith(b"HTTP/1.1 200 OK\r\n") and received.endswith(b"5\r\nfirst\r\n0\r\n\r\n")
    assert len(writes) == expected_writes and b"".join(writes) == received


def test_later_body_messages_are_written_as_they_come(serve):
    port, writes = serve(HttpProtocol)
    received, _ = exchange(port, get("/twice"), b"0\r\n\r\n")
    assert received.endswith(b"5\r\nfirst\r\n6\r\nsecond\r\n0\r\n\r\n")
    assert len(writes) == 2 and writes[0].startswith(b"HTTP/1.1 200 OK") and writes[1] == b"6\r\nsecond\r\n0\r\n\r\n"


def test_a_head_whose_body_takes_longer_is_not_held_back(serve):
    port, writes = serve(HttpProtocol)
    received, times = exchange(port, get("/late"), b"0\r\n\r\n")
    assert received.endswith(b"5\r\nfirst\r\n0\r\n\r\n")
    assert len(writes) == 2 and writes[0].endswith(b"\r\n\r\n") and b"first" not in writes[0]
    assert times[0] < 0.2 <= times[-1]  # the head came at once, the body 0.3 s later


def test_a_head_request_gets_its_head(serve):
    port, writes = serve(HttpProtocol)
    received, _ = exchange(port, get("/plain", "HEAD"), b"\r\n\r\n")
    assert received.startswith(b"HTTP/1.1 200 OK\r\n") and b"first" not in received
    assert len(writes) == 1
