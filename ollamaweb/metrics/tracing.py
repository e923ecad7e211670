"""What the request pipeline calls at each stage: timings for the metrics, spans for OpenTelemetry.

One call per stage, each taking the request's UsageRecord:

    tracing.start_request(record, "openai", request.headers)     # when the request arrives
    with tracing.stage(record, "admission"):                     # auth, model resolution, quotas
        ...
    tracing.refused(record, "tokens_per_day")                    # when a quota refuses it
    with tracing.backend_call(record, backend.name) as call:     # each attempt on a backend
        ...; call.first_token(); ...; call.done(final_chunk)     # first output; Ollama's final chunk
    # settlement needs no call: the request span ends when the record is handed to the log writer,
    # and a "settlement" span runs from there until its row and quota settlement are committed.

The backend call always measures (for the metrics: backend time, queue wait, failovers, backend
errors, Ollama's durations). Spans exist only when tracing is configured: by the standard OTEL_*
environment variables (OTEL_TRACES_EXPORTER=otlp|console, or an OTEL_EXPORTER_OTLP_ENDPOINT;
OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER as usual), or by `configure()`.
Off (the default), `stage()` returns a shared no-op context and nothing of OpenTelemetry is imported.
"""

import contextlib
import logging
import os
import time

from ollamaweb.backends.registry import slot_waits

logger = logging.getLogger(__name__)

_tracer = None  # an opentelemetry Tracer when tracing is on
_provider = None
NOOP = contextlib.nullcontext()


def enabled() -> bool:
    return _tracer is not None


def _exporter_from_environment():
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    names = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if not names and (
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ):
        names = "otlp"
    exporters = []
    for name in filter(None, (n.strip() for n in names.split(","))):
        if name == "none":
            return None
        if name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            exporters.append(ConsoleSpanExporter())
        elif name == "otlp":
            protocol = os.environ.get(
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
            )
            try:
                if protocol == "grpc":
                    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
                else:
                    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            except ImportError:
                logger.error(
                    "OTEL_TRACES_EXPORTER=otlp needs the OTLP exporter: pip install opentelemetry-exporter-otlp-proto-%s",
                    "grpc" if protocol == "grpc" else "http",
                )
                continue
            exporters.append(OTLPSpanExporter())
        else:
            logger.error("unknown OTEL_TRACES_EXPORTER %r (ollamaweb knows otlp, console, none)", name)
    return exporters or None


def configure_from_environment():
    exporters = _exporter_from_environment()
    if exporters:
        configure(*exporters, batch=True, set_global=True)
        logger.info("OpenTelemetry tracing on: %s", ", ".join(type(e).__name__ for e in exporters))


def configure(*exporters, batch: bool = False, set_global: bool = False):
    """Turn tracing on with these span exporters (tests pass an InMemorySpanExporter)."""
    global _tracer, _provider
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or "ollamaweb"})
    provider = TracerProvider(resource=resource)
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))
    if set_global:
        trace.set_tracer_provider(provider)
    _provider, _tracer = provider, provider.get_tracer("ollamaweb")


def disable():
    global _tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    _tracer = _provider = None


class RequestTrace:
    """The spans of one request (kept on record.trace)."""

    __slots__ = ("span", "context", "settlement")

    def __init__(self, span, context):
        self.span, self.context, self.settlement = span, context, None


def start_request(record, protocol: str = "", headers=None):
    """Name the request's protocol; with tracing on, open its span (continuing a `traceparent`)."""
    if protocol:
        record.protocol = protocol
    if _tracer is None:
        return
    from opentelemetry import propagate, trace

    parent = propagate.extract(headers) if headers else None
    span = _tracer.start_span(
        f"{record.method} {record.endpoint}",
        context=parent,
        kind=trace.SpanKind.SERVER,
        attributes={"ollamaweb.protocol": record.protocol, "ollamaweb.endpoint": record.endpoint},
    )
    record.trace = RequestTrace(span, trace.set_span_in_context(span))


class _Stage:
    __slots__ = ("record", "name", "attributes", "span")

    def __init__(self, record, name, attributes):
        self.record, self.name, self.attributes, self.span = record, name, attributes, None

    def __enter__(self):
        self.span = _tracer.start_span(self.name, context=self.record.trace.context, attributes=self.attributes)
        return self

    def __exit__(self, kind, exc, traceback):
        if exc is not None:
            _record_error(self.span, exc)
        self.span.end()
        return False

    async def __aenter__(self):
        return self.__enter__()

    async def __aexit__(self, kind, exc, traceback):
        return self.__exit__(kind, exc, traceback)


def stage(record, name: str, **attributes):
    """A child span of the request (`with` or `async with`); a shared no-op when tracing is off."""
    if _tracer is None or record.trace is None:
        return NOOP
    return _Stage(record, name, attributes)


def refused(record, limit: str):
    """A quota refused the request: `limit` is tokens_per_day, tokens_per_month, requests_per_minute,
    max_concurrent or store_unavailable."""
    record.refusal = limit
    if record.trace is not None:
        record.trace.span.add_event("quota refused", {"ollamaweb.limit": limit})


def error_kind(exc: BaseException) -> str:
    """unavailable, busy, timeout, not_found or error, from the exception's class name."""
    name = type(exc).__name__.lower()
    for kind in ("unavailable", "busy", "timeout"):
        if kind in name:
            return kind
    if "notfound" in name:
        return "not_found"
    return "error"


class BackendCall:
    """One attempt on one backend (`with` or `async with`).

    A streaming attempt outlives its `with` block (it returns once the first bytes are ready):
    `keep_open()` hands it to the relay, which calls `close()` when the stream ends.
    """

    __slots__ = ("record", "backend", "span", "waits", "kept", "closed")

    def __init__(self, record, backend: str, model: str = ""):
        self.record, self.backend, self.span, self.waits = record, backend, None, []
        self.kept = self.closed = False
        slot_waits.set(self.waits)
        if record.backend_errors:
            record.failovers += 1  # an earlier attempt failed: this one is a failover
        if record.backend_started is None:
            record.backend_started = time.perf_counter()
        if _tracer is not None and record.trace is not None:
            self.span = _tracer.start_span(
                "backend call",
                context=record.trace.context,
                attributes={"ollamaweb.backend": backend, "ollamaweb.model": model or record.resolved_model},
            )

    def first_token(self):
        """The first output reached the client (sets the record's time to first token once)."""
        if self.record.ttft_ms is None:
            self.record.mark_first_token()
            if self.span is not None:
                self.span.add_event("first token", {"ollamaweb.ttft_ms": self.record.ttft_ms})

    def done(self, native: dict):
        """Ollama's final chunk (or non-stream answer): its durations on the span (the pipeline adds
        them to the record itself)."""
        if self.span is not None:
            for name in ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration"):
                if native.get(name):
                    self.span.set_attribute(f"ollama.{name}_ns", native[name])

    def keep_open(self):
        self.kept = True

    def close(self, status: int = 200, error: str = ""):
        """End the call: `status` ≥ 500 (but not a client's 499) counts as a backend error."""
        if self.closed:
            return
        self.closed = True
        record = self.record
        record.backend_ended = time.perf_counter()
        if self.waits:
            record.queue_wait_ms = max(record.queue_wait_ms or 0.0, max(self.waits) * 1000)
        if status >= 500:
            record.backend_errors.append((self.backend, "error"))
        if self.span is not None:
            if status >= 500:
                from opentelemetry.trace import Status, StatusCode

                self.span.set_status(Status(StatusCode.ERROR, error[:200]))
            self.span.end()

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, traceback):
        if exc is None:
            if not self.kept:
                self.close()
            return False
        if self.closed:
            return False
        self.closed = True
        record = self.record
        record.backend_ended = time.perf_counter()
        if self.waits:
            record.queue_wait_ms = max(record.queue_wait_ms or 0.0, max(self.waits) * 1000)
        if not isinstance(exc, GeneratorExit) and type(exc).__name__ != "CancelledError":
            record.backend_errors.append((self.backend, error_kind(exc)))
        if self.span is not None:
            _record_error(self.span, exc)
            self.span.end()
        return False

    async def __aenter__(self):
        return self

    async def __aexit__(self, kind, exc, traceback):
        return self.__exit__(kind, exc, traceback)


def backend_call(record, backend: str, model: str = "") -> BackendCall:
    return BackendCall(record, backend, model)


def _record_error(span, exc):
    from opentelemetry.trace import Status, StatusCode

    span.set_status(Status(StatusCode.ERROR, str(getattr(exc, "message", exc))[:200]))
    span.set_attribute("error.type", type(exc).__name__)


# --- Usage hooks: the end of the request span, and the settlement span ---------------------------


def request_finished(record):
    trace = record.trace
    if trace is None or _tracer is None:
        return
    span = trace.span
    span.set_attributes(
        {
            "http.response.status_code": record.status,
            "ollamaweb.model": record.resolved_model or record.requested_model,
            "ollamaweb.backend": record.backend,
            "ollamaweb.stream": record.stream,
            "ollamaweb.prompt_tokens": record.prompt_tokens,
            "ollamaweb.completion_tokens": record.completion_tokens,
        }
    )
    if record.ttft_ms is not None:
        span.set_attribute("ollamaweb.ttft_ms", record.ttft_ms)
    if record.status >= 500:
        from opentelemetry.trace import Status, StatusCode

        span.set_status(Status(StatusCode.ERROR, record.error[:200]))
    span.end()
    trace.settlement = _tracer.start_span("settlement", context=trace.context)


async def batch_written(records):
    for record in records:
        trace = record.trace
        if trace is not None and trace.settlement is not None:
            trace.settlement.end()
            trace.settlement = None
