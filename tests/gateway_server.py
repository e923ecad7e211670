"""Runs the real ASGI application under uvicorn in a background thread, for end-to-end tests."""

import asyncio
import threading
import time

import uvicorn

from ollamaweb.core.uvicorn_http import HttpProtocol


class GatewayServer:
    def __init__(self, app="ollamaweb.asgi:application", http=HttpProtocol, lifespan="on"):
        self.config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan=lifespan, http=http)
        self.server = uvicorn.Server(self.config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="gateway-server", daemon=True)

    def _run(self):
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve())

    def start(self):
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the gateway server did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def call(self, coroutine, timeout=10):
        """Run a coroutine on the server's event loop (e.g. flushing the log writer)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self):
        self.server.should_exit = True
        self._thread.join(timeout=15)
