"""The in-flight account of one /v1 request, turned into a RequestLog row when it finishes."""

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .models import RequestLog


@dataclass(slots=True)
class UsageRecord:
    endpoint: str
    method: str = "POST"
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started: float = field(default_factory=time.perf_counter)
    user_id: int | None = None
    key_id: int | None = None
    key_prefix: str = ""
    requested_model: str = ""
    resolved_model: str = ""
    backend: str = ""
    stream: bool = False
    client_user: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usage_source: str = RequestLog.UsageSource.NONE
    ttft_ms: float | None = None
    status: int = 0
    error: str = ""
    latency_ms: float = 0.0
    finished: bool = False
    finished_at: datetime | None = None
    admission: object = None  # the quota Admission to settle, if limits applied
    # Observability (not stored in the log row; read by hooks such as the Prometheus metrics).
    protocol: str = ""  # the client protocol: openai, anthropic, ollama, ...
    refusal: str = ""  # the limit that refused the request: tokens_per_day, requests_per_minute, ...
    failovers: int = 0  # backends given up on before the one that served (or before failing)
    backend_errors: list = field(default_factory=list)  # (backend, kind) of each failed backend attempt
    queue_wait_ms: float | None = None  # waiting for a backend slot (backends with max_concurrent)
    backend_started: float | None = None  # perf_counter when the first backend call started
    backend_ended: float | None = None  # ... and when the last one ended
    # Ollama's timings of the calls, summed (nanoseconds; absent fields count 0).
    total_duration_ns: int = 0
    load_duration_ns: int = 0
    prompt_eval_duration_ns: int = 0
    eval_duration_ns: int = 0
    trace: object = None  # the request's tracing span (ollamaweb.metrics.tracing), when tracing is on

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add_usage(self, prompt_tokens: int, completion_tokens: int, source=RequestLog.UsageSource.MEASURED):
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens
        if self.usage_source != RequestLog.UsageSource.COUNTED:
            self.usage_source = source

    def add_durations(self, native: dict):
        """Add the timings of a native final chunk (`done: true`) or non-stream answer."""
        self.total_duration_ns += native.get("total_duration") or 0
        self.load_duration_ns += native.get("load_duration") or 0
        self.prompt_eval_duration_ns += native.get("prompt_eval_duration") or 0
        self.eval_duration_ns += native.get("eval_duration") or 0

    @property
    def backend_ms(self) -> float | None:
        """Wall time from the first backend call's start to the last one's end."""
        if self.backend_started is None:
            return None
        ended = self.backend_ended if self.backend_ended is not None else time.perf_counter()
        return (ended - self.backend_started) * 1000

    def mark_first_token(self):
        if self.ttft_ms is None:
            self.ttft_ms = (time.perf_counter() - self.started) * 1000

    def finish(self, status: int, error: str = "") -> bool:
        """Close the record once; returns False if it was already closed."""
        if self.finished:
            return False
        self.finished = True
        self.finished_at = datetime.now(UTC)
        self.status = status
        self.error = error[:2000]
        self.latency_ms = (time.perf_counter() - self.started) * 1000
        return True

    def columns(self) -> dict:
        """The RequestLog row of this record, as field name → value."""
        return {
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "user_id": self.user_id,
            "api_key_id": self.key_id,
            "key_prefix": self.key_prefix,
            "endpoint": self.endpoint,
            "method": self.method,
            "requested_model": self.requested_model[:200],
            "resolved_model": self.resolved_model[:200],
            "backend": self.backend[:100],
            "status": self.status,
            "error": self.error,
            "stream": self.stream,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "usage_source": self.usage_source,
            "ttft_ms": self.ttft_ms,
            "latency_ms": self.latency_ms,
            "client_user": self.client_user[:256],
        }
