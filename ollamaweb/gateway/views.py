"""The base of every API view: runs the pipeline's record lifecycle and shapes errors by protocol."""

import asyncio
import logging

import orjson
from django.http import HttpResponse
from django.views import View

from ollamaweb.core.errors import GatewayError, MethodNotAllowed, NotFound, ServerError

from . import setup_gate
from .pipeline import Pipeline

logger = logging.getLogger(__name__)


def json_response(payload, status=200) -> HttpResponse:
    return HttpResponse(orjson.dumps(payload), status=status, content_type="application/json")


class GatewayView(View):
    """Subclasses set `protocol` and `endpoint` and implement `async def post/get(...)`.

    Every request, whatever its outcome, leaves one usage record: settled here for plain
    responses, by the relay when a stream has started, and here too when the client leaves.
    """

    protocol = None
    endpoint = ""
    authenticated = True
    setup_gated = False  # views that admit generations: their set-up goes through setup_gate.py

    async def dispatch(self, request, *args, **kwargs):
        self.pipeline = pipeline = Pipeline(request, self.protocol, self.endpoint or request.path[:64])
        try:
            if self.setup_gated:
                pipeline.setup = await setup_gate.enter()
            response = await self._respond(request, *args, **kwargs)
        except asyncio.CancelledError:
            pipeline.settle(499, "client disconnected")
            raise
        finally:
            pipeline.setup.leave()
        response["x-request-id"] = pipeline.record.request_id
        admission = pipeline.record.admission
        if admission is not None:
            for name, value in admission.headers().items():
                response[name] = value
        if not pipeline.stream_owns_record:
            # Before the answer leaves: once a client has it, its record must be in the journal (a
            # process killed right after must not lose the row; tests/quotas/test_leases.py).
            pipeline.settle(response.status_code, getattr(response, "error_message", ""))
        return response

    async def _respond(self, request, *args, **kwargs):
        try:
            method = request.method.lower()
            handler = getattr(self, method, None) if method in self.http_method_names else None
            if handler is None:
                raise MethodNotAllowed(f"Method {request.method} is not allowed for {request.path}.", code=None)
            if self.authenticated:
                self.identity = await self.pipeline.authenticate()
            await self.pipeline.read_body()
            return await handler(request, *args, **kwargs)
        except GatewayError as exc:
            return self._error(exc, exc.message)
        except Exception:
            logger.exception("unexpected error serving %s %s", request.method, request.path)
            error = ServerError("The server had an error while processing your request.")
            return self._error(error, "internal error (see server log)")

    def _error(self, error: GatewayError, logged_message: str) -> HttpResponse:
        response = self.protocol.error_response(error)
        for name, value in error.headers.items():
            response[name] = value
        response.error_message = logged_message
        return response


class UnknownRouteView(GatewayView):
    """Any other path under a protocol's prefix: a 404 `unknown_url` in the protocol's shape (after
    authentication, as the real APIs do). Subclasses word `message` (formatted with method and path)."""

    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]
    message = "{method} {path}"

    async def _not_found(self, request, *args, **kwargs):
        raise NotFound(self.message.format(method=request.method, path=request.path), code="unknown_url")

    get = post = put = patch = delete = head = options = _not_found
