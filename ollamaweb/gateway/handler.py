"""A lean Django ASGI handler for /v1: no middleware, no per-request thread, no request signals.

Django's ASGIHandler runs every request inside a ThreadSensitiveContext (a new executor thread per
request, held for the whole of a stream) and sends request_started/request_finished through
sync_to_async (two thread hops). The /v1 views are async end to end and do their few database
calls through ollamaweb.db.run_in_thread, which manages connections itself, so none of that is
needed; dropping it halved the median latency at concurrency 1 and the memory of an open stream
(bench/README.md). API keys are checked in the views, so no middleware either.

Without middleware nothing would check the Host header, so the handler does: a Host outside
ALLOWED_HOSTS gets a 400 in the error shape of the protocol that serves the path (never Django's
HTML page), before any view runs.
"""

import asyncio
import io
import logging
from contextlib import aclosing
from functools import lru_cache

import orjson
from asgiref.sync import iscoroutinefunction, sync_to_async
from django.conf import settings
from django.core.exceptions import DisallowedHost, RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.exception import response_for_exception
from django.http import HttpResponse
from django.urls import Resolver404, get_resolver, resolve, set_script_prefix
from django.utils.log import log_response

from ollamaweb.core.errors import InvalidRequest

security_logger = logging.getLogger("django.security.DisallowedHost")


def bad_host_response(path: str) -> HttpResponse:
    error = InvalidRequest("Invalid Host header: this server does not answer to that host name.", code="invalid_host")
    try:
        protocol = getattr(getattr(resolve(path).func, "view_class", None), "protocol", None)
    except Resolver404:
        protocol = None
    if protocol is not None:
        return protocol.error_response(error)
    body = {"error": {"message": error.message, "type": "invalid_request_error", "param": None, "code": error.code}}
    return HttpResponse(orjson.dumps(body), status=error.status, content_type="application/json")


@lru_cache(maxsize=1024)
def _resolve(resolver, path: str):
    """The view for a path, and whether it is async: resolving walks three levels of URL
    patterns (~100 µs), the same for every request to a path (a new resolver after
    clear_url_caches() makes new entries)."""
    match = resolver.resolve(path)
    return match, iscoroutinefunction(match.func)


class APIHandler(ASGIHandler):
    def load_middleware(self, is_async=False):
        """None: get_response_async() calls the view itself."""

    def __call__(self, scope, receive, send):
        return self.handle(scope, receive, send)

    async def read_body(self, receive):
        """The body in memory, one bytes object that `request.body` then shares (Django's spooled
        temporary file kept a copy of its own for as long as the request). Past the body limit the
        rest is read and dropped: Django's size check refuses what was kept (a 413 in the
        protocol's shape), and no disk or memory fills with it."""
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        chunks, kept = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise RequestAborted()
            chunk = message.get("body")
            if chunk and (limit is None or kept <= limit):
                chunks.append(chunk)
                kept += len(chunk)
            if not message.get("more_body", False):
                break
        return io.BytesIO(chunks[0] if len(chunks) == 1 else b"".join(chunks))

    async def handle(self, scope, receive, send):
        """Django's handle() without the request signals and the threaded response.close(). Only
        the coroutine that makes the response holds the request (and its body), so a stream open
        for minutes holds none of it."""
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        prefix = get_script_prefix(scope)
        if prefix not in ("", "/"):  # the default needs no per-request context storage
            set_script_prefix(prefix)
        serving = self._respond_unless_disconnected(self._response(scope, body_file), receive, send)
        del body_file
        await serving

    async def _response(self, scope, body_file):
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            return error_response
        try:
            request.get_host()
        except DisallowedHost as exc:
            security_logger.warning("%s", exc)
            return bad_host_response(request.path_info)
        return await self.run_get_response(request)

    async def get_response_async(self, request):
        """Django's, for a handler without middleware: the view found through a cache of paths,
        and no thread hop to log a 4xx or 5xx response (logging is synchronous everywhere else)."""
        try:
            match, is_async = _resolve(get_resolver(), request.path_info)
            request.resolver_match = match
            view = match.func if is_async else sync_to_async(match.func, thread_sensitive=True)
            response = await view(request, *match.args, **match.kwargs)
        except Exception as exc:  # Resolver404 (a path no API route takes) and other Django errors
            response = await sync_to_async(response_for_exception, thread_sensitive=False)(request, exc)
        response._resource_closers.append(request.close)
        if response.status_code >= 400:
            log_response("%s: %s", response.reason_phrase, request.path, response=response, request=request)
        return response

    async def send_response(self, response, send):
        """Django's send_response, with streams relayed straight from their iterator.

        Django wraps an async stream in two generators (`__aiter__`, `streaming_content`) and
        re-chunks every part; the relay already yields bytes of sensible size, so each part goes
        out as one ASGI message with nothing in between (a few µs per token at 1,000 streams).
        Once the head is sent, an open stream keeps only its iterator: the response object and its
        headers (about 3 KB) are freed.
        """
        iterator = getattr(response, "_iterator", None)
        if (
            not (response.streaming and getattr(response, "is_async", False) and hasattr(iterator, "aclose"))
            or response.cookies
        ):
            return await super().send_response(response, send)
        status, charset = response.status_code, response.charset
        headers = [(name.encode("ascii"), value.encode("latin1")) for name, value in response.items()]
        del response
        await send({"type": "http.response.start", "status": status, "headers": headers})
        del headers
        async with aclosing(iterator) as parts:
            async for part in parts:
                if type(part) is not bytes:
                    part = part.encode(charset) if isinstance(part, str) else bytes(part)
                if part:
                    await send({"type": "http.response.body", "body": part, "more_body": True})
                del part  # not held while the next part is awaited
        await send({"type": "http.response.body"})

    async def _respond_unless_disconnected(self, responding, receive, send):
        """Send what `responding` (a coroutine) answers, in this task; if the client disconnects
        first, a listener cancels it (streams stop at once, and the view charges what ran).

        One task more per request, not two and an asyncio.wait: a second task for the view cost
        its creation, a context copy and, with the finished tasks' exceptions, reference cycles
        that the garbage collector then had to find (about 48 objects per request).
        """
        this = asyncio.current_task()
        state = {"served": False, "client_left": False}

        async def cancel_when_the_client_leaves():
            message = await receive()
            if message["type"] == "http.disconnect" and not state["served"]:
                state["client_left"] = True
                this.cancel()

        listener = asyncio.create_task(cancel_when_the_client_leaves())
        try:
            await self.send_response(await responding, send)
        except asyncio.CancelledError:
            if not state["client_left"]:
                raise  # the server is stopping
            this.uncancel()
        finally:
            state["served"] = True
            listener.cancel()
