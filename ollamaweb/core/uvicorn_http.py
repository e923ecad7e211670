"""uvicorn's HTTP protocol (httptools), writing a response's head with its first body bytes.

uvicorn writes the status line and headers the moment the application sends
`http.response.start`, and every body message in a write of its own: each answer cost the server
two system calls (on loopback, each also runs the receiver's side of TCP) and the client two
wake-ups, and each stream as many at its start, when a burst of them opens. The gateway sends a
response's head and its first body bytes in one pass of the event loop, so here the head waits
for them: it goes out in the same write as the first body message, or at the end of the pass it
was sent in when none came (a response whose body takes longer still has its head at once).

Served with::

    uvicorn ollamaweb.asgi:application --http ollamaweb.core.uvicorn_http:HttpProtocol
"""

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle


class HttpProtocol(HttpToolsProtocol):
    def _start_asgi_task(self, cycle: RequestResponseCycle, app):
        # uvicorn builds its own cycle (on_headers_complete); this one differs only in send().
        cycle.__class__ = HeadWithBodyCycle
        super()._start_asgi_task(cycle, app)


class HeadWithBodyCycle(RequestResponseCycle):
    _head: bytes | None = None  # the response's head, while it waits for the first body bytes
    _head_due: asyncio.Handle | None = None  # its write at the end of the pass

    async def send(self, message):
        if message["type"] == "http.response.start" and not self.response_started:
            transport, self.transport = self.transport, _Kept()
            try:
                await super().send(message)
            finally:
                kept, self.transport = self.transport, transport
            if kept.data:
                self._head = kept.data
                self._head_due = asyncio.get_running_loop().call_soon(self._write_head)
            return
        if self._head is None:
            return await super().send(message)
        head, self._head = self._head, None
        self._head_due.cancel()
        transport, self.transport = self.transport, _Prefixed(self.transport, head)
        try:
            await super().send(message)
        finally:
            prefixed, self.transport = self.transport, transport
            if prefixed.head is not None and not transport.is_closing():  # no body written (HEAD, an error)
                transport.write(prefixed.head)

    def _write_head(self):
        head, self._head = self._head, None
        if head is not None and not self.transport.is_closing():
            self.transport.write(head)


class _Kept:
    """Stands in for the transport while uvicorn writes the head: keeps it."""

    def __init__(self):
        self.data = b""

    def write(self, data: bytes):
        self.data += data


class _Prefixed:
    """Stands in for the transport while uvicorn writes the first body bytes: the head goes first,
    in the same write."""

    def __init__(self, transport, head: bytes):
        self._transport, self.head = transport, head

    def write(self, data: bytes):
        head, self.head = self.head, None
        self._transport.write(head + data if head is not None else data)

    def __getattr__(self, name):
        return getattr(self._transport, name)
