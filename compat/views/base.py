"""The async DRF base view of every /v1 route: API-key auth, OpenAI errors, one usage record."""

import asyncio
import logging

import orjson
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from rest_framework.views import APIView

from ollamaweb.backends.registry import registry
from ollamaweb.catalog.aliases import alias_table
from ollamaweb.metrics import tracing
from ollamaweb.quotas import limiter
from ollamaweb.tasks import spawn
from ollamaweb.usage.records import UsageRecord
from ollamaweb.usage.writer import log_writer

from ..auth import authenticate
from ..errors import (
    BackendBusy,
    BackendTimeout,
    BackendUnavailable,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    OpenAIError,
    PermissionDenied,
    RateLimited,
)
from ..translate.models import canonical

logger = logging.getLogger(__name__)
# Failures that happen before the backend answered anything: another backend may serve the request.
RETRY_ON_ANOTHER_BACKEND = (BackendUnavailable, BackendBusy, BackendTimeout)

INVALID_JSON = (
    "We could not parse the JSON body of your request. The OpenAI API expects a JSON payload; "
    "make sure it is valid JSON."
)


def json_response(payload, status=200) -> HttpResponse:
    return HttpResponse(orjson.dumps(payload), status=status, content_type="application/json")


class OpenAIView(APIView):
    """Async DRF view: subclasses implement `async def post/get` and may raise OpenAIError.

    DRF's sync authentication/permission/throttle machinery is bypassed on purpose: API keys are
    checked against an in-process cache (no thread hop, no database round trip on the hot path).
    """

    endpoint = ""
    authentication_classes = ()
    permission_classes = ()
    throttle_classes = ()

    async def dispatch(self, request, *args, **kwargs):
        self.args, self.kwargs, self.headers = args, kwargs, {}
        self.request = request = self.initialize_request(request, *args, **kwargs)
        self.record = UsageRecord(endpoint=self.endpoint or request.path[:64], method=request.method)
        tracing.start_request(self.record, "openai", request.headers)
        self.stream_owns_record = False
        try:
            response = await self._handle(request, *args, **kwargs)
        except asyncio.CancelledError:
            self.record.disconnected = True
            self.settle(499, "client disconnected")
            raise
        if self.record.admission is not None:
            for name, value in self.record.admission.headers().items():
                response[name] = value
        if not self.stream_owns_record:
            self.settle(response.status_code, getattr(response, "error_message", ""))
        return response

    async def _handle(self, request, *args, **kwargs):
        try:
            handler = getattr(self, request.method.lower(), None)
            if handler is None or request.method.lower() not in self.http_method_names:
                raise MethodNotAllowed(f"Method {request.method} is not allowed for {request.path}.", code=None)
            self.identity = await authenticate(request)
            self.record.user_id = self.identity.user_id
            self.record.key_id = self.identity.key_id
            self.record.key_prefix = self.identity.prefix
            return await handler(request, *args, **kwargs)
        except OpenAIError as exc:
            response = exc.response()
            response.error_message = exc.message
            return response
        except Exception:
            logger.exception("unexpected error serving %s %s", request.method, request.path)
            response = OpenAIError(
                "The server had an error while processing your request.", status=500, type="server_error"
            ).response()
            response.error_message = "internal error (see server log)"
            return response

    def settle(self, status: int, error: str = ""):
        """Close this request's usage record (once), free its quota slots, hand it to the log writer.

        Runs inside cancelled streams too, so it only schedules work and never awaits.
        """
        if not self.record.finish(status, error):
            return
        if self.record.admission is not None and self.record.admission.holds_slots:
            spawn(limiter.release(self.record.admission))
        log_writer.submit(self.record)

    async def admit(self, model: str, tokens: int):
        """Reserve `tokens` and request slots in the caller's quotas, or raise a 429 (or 503)."""
        try:
            with tracing.stage(self.record, "admission"):
                self.record.admission = await limiter.admit(self.identity.user_id, self.identity.key_id, model, tokens)
        except limiter.LimitExceeded as exc:
            tracing.refused(self.record, exc.limit)
            raise RateLimited(
                exc.message, type=exc.kind, code=exc.kind, retry_after=exc.retry_after, headers=exc.headers
            ) from None
        except limiter.QuotaStoreUnavailable:
            tracing.refused(self.record, "store_unavailable")
            raise OpenAIError(
                "Quota accounting is unavailable, so requests are refused for now; try again shortly.",
                status=503,
                type="api_error",
                code="quota_store_unavailable",
                headers={"Retry-After": "5"},
            ) from None
        return self.record.admission

    def json_body(self) -> dict:
        try:
            return orjson.loads(self.request.body)
        except orjson.JSONDecodeError:
            raise InvalidRequest(INVALID_JSON, code="invalid_json") from None
        except RequestDataTooBig:
            raise InvalidRequest(
                f"The request body is larger than this server's limit of {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes.",
                status=413,
                code="request_too_large",
            ) from None

    async def admit_generation(self, model: str, native: dict, prompt_tokens: int, calls: int = 1):
        """Admit a generation that may cost up to `calls` × (prompt + max completion) tokens.

        When a token quota applies and the client set no max_tokens, the backend is told to stop
        at QUOTA_DEFAULT_MAX_TOKENS, so a request cannot outrun what it reserved.
        """
        options = native.get("options") or {}
        max_completion = options.get("num_predict") or settings.QUOTA_DEFAULT_MAX_TOKENS
        admission = await self.admit(model, calls * (prompt_tokens + max_completion))
        if admission is not None and admission.limits_tokens and "num_predict" not in options:
            native["options"] = {**options, "num_predict": max_completion}

    def check_model_allowed(self, requested: str):
        allowed = self.identity.allowed_models
        if allowed and canonical(requested) not in {canonical(name) for name in allowed}:
            raise PermissionDenied(f"This API key is not allowed to use the model '{requested}'.")

    async def resolve_model(self, requested: str) -> str:
        """The backend model for a requested name, after the key's allow-list check."""
        self.record.requested_model = requested
        self.check_model_allowed(requested)
        target = await alias_table.resolve(requested)
        self.record.resolved_model = target
        return target

    async def on_backends(self, model: str, features, attempt):
        """`await attempt(backend)` on the best backend for `model`, and once more on the next one
        if the first refused the connection, was busy or timed out before answering, or lacks the
        model. Streams are retried only before their first event reached the client (relay() returns
        after that event), so a client never sees output from two backends.
        """
        candidates = await registry.candidates(model, features)
        error = None
        for backend in candidates[:2]:
            backend.choosing += 1
            try:
                with tracing.backend_call(self.record, backend.name, model) as self.backend_call:
                    call = self.backend_call
                    result = await attempt(backend)
                    for native in result if isinstance(result, list) else [result]:
                        if isinstance(native, dict):
                            call.done(native)
            except RETRY_ON_ANOTHER_BACKEND as exc:
                backend.failed()
                error = exc
                continue
            except NotFound as exc:
                error = exc
                continue
            finally:
                backend.choosing -= 1
            backend.succeeded()
            self.record.backend = backend.name
            return result
        if isinstance(error, NotFound):
            raise self.model_not_found(self.record.requested_model or model)
        raise error or BackendUnavailable("No model backend is configured.")

    def model_not_found(self, requested: str) -> NotFound:
        return NotFound(f"The model '{requested}' does not exist or is not available.", param="model")
