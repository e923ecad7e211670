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
    response_id: str = ""  # the id of the object returned, when the client may refer to it later
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

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add_usage(self, prompt_tokens: int, completion_tokens: int, source=RequestLog.UsageSource.MEASURED):
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens
        if self.usage_source != RequestLog.UsageSource.COUNTED:
            self.usage_source = source

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
            "response_id": self.response_id[:64],
        }
