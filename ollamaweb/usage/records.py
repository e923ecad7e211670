"""The in-flight account of one API request, turned into a RequestLog row when it finishes."""

import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .models import USAGE_SOURCE_ORDER, RequestLog

# NUL and other control characters (but tab and newline) cannot be stored everywhere (PostgreSQL
# refuses NUL in text) and mean nothing in a log: they are replaced at the edge.
_UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
DURATIONS = ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration")
MAX_COUNT = 2**31 - 1  # the log's integer columns
MAX_GPU_MS = 2**53  # exact in every store (and in JSON)


def storable(value: str, length: int) -> str:
    """`value` as any database stores it: no control characters or lone surrogates, at most `length`."""
    value = value if isinstance(value, str) else str(value)
    if len(value) <= length and value.isascii() and value.isprintable():
        return value  # the usual case, checked in C
    return _UNSTORABLE.sub("\ufffd", value[: length * 2])[:length]


_TEXT_LENGTHS = {
    "request_id": 40, "key_prefix": 12, "endpoint": 64, "method": 8, "requested_model": 200,
    "resolved_model": 200, "backend": 100, "error": 2000, "client_user": 256, "response_id": 64,
}  # fmt: skip


def new_request_id() -> str:
    return "req_" + secrets.token_hex(12)


@dataclass(slots=True)
class UsageRecord:
    endpoint: str
    method: str = "POST"
    request_id: str = field(default_factory=new_request_id)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started: float = field(default_factory=time.perf_counter)
    user_id: int | None = None
    key_id: int | None = None
    key_prefix: str = ""
    team_id: int | None = None  # the team charged (teams.policy.team_for)
    requested_model: str = ""
    resolved_model: str = ""
    backend: str = ""
    stream: bool = False
    client_user: str = ""
    response_id: str = ""  # the id of the object returned, when the client may refer to it later
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usage_source: str = RequestLog.UsageSource.NONE
    durations_ns: dict = field(default_factory=dict)  # Ollama's *_duration, summed over the calls
    gpu_ms: int = 0  # GPU time charged, set when finished (charged_gpu_ms)
    ttft_ms: float | None = None
    status: int = 0
    error: str = ""
    latency_ms: float = 0.0
    finished: bool = False
    finished_at: datetime | None = None
    admission: object = None  # the quota Admission to settle, if limits applied
    settlement: dict = field(default_factory=dict)  # {metered counter: (reserved, used)}, set when finished
    settlement_store: str = ""  # the quota store that holds those counters
    settlement_member: str = ""  # the admission's member, whose holds the settlement takes (quotas/leases.py)
    # Observability (not stored in the log row; read by usage hooks such as the Prometheus metrics).
    protocol: str = ""  # the client protocol: openai, anthropic, ollama, ...
    refusal: str = ""  # the limit that refused the request: tokens_per_day, requests_per_minute, ...
    failovers: int = 0  # backends given up on before the one that served (or before failing)
    backend_errors: list = field(default_factory=list)  # (backend, kind) of each failed backend attempt
    queue_wait_ms: float | None = None  # waiting for a backend slot (backends with max_concurrent)
    backend_started: float | None = None  # perf_counter when the first backend call started
    backend_ended: float | None = None  # ... and when the last one ended
    trace: object = None  # the request's tracing spans (ollamaweb.metrics.tracing), when tracing is on

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add_usage(self, prompt_tokens: int, completion_tokens: int, source=RequestLog.UsageSource.MEASURED):
        """Add one backend call's tokens; the record is as exact as its least exact call."""
        self.prompt_tokens += prompt_tokens
        self.completion_tokens += completion_tokens
        if USAGE_SOURCE_ORDER.index(source) > USAGE_SOURCE_ORDER.index(self.usage_source):
            self.usage_source = source

    def add_durations(self, native: dict):
        for name in DURATIONS:
            value = native.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63:
                self.durations_ns[name] = self.durations_ns.get(name, 0) + value

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
        self.error = error
        self.latency_ms = (time.perf_counter() - self.started) * 1000
        self.gpu_ms = self.charged_gpu_ms()
        self._make_storable()
        return True

    def charged_gpu_ms(self) -> int:
        """Ollama's total_duration when it reported one; for a generation cut short (the client
        left, the backend broke off) the time from the first backend call to the last one's end."""
        total = self.durations_ns.get("total_duration")
        if total is not None:
            return min(round(total / 1e6), MAX_GPU_MS)
        cut_short = self.usage_source in (RequestLog.UsageSource.COUNTED, RequestLog.UsageSource.ESTIMATED)
        backend_ms = self.backend_ms
        return min(round(backend_ms), MAX_GPU_MS) if cut_short and backend_ms is not None else 0

    def _make_storable(self):
        """Every text as any database (and the rollups, feed and metrics) can take it."""
        for name, length in _TEXT_LENGTHS.items():
            value = getattr(self, name)
            if value:
                setattr(self, name, storable(value, length))

    def columns(self) -> dict:
        """The RequestLog row of this record, as field name → value, every value storable."""
        durations = {f"{name}_ms": self.durations_ns.get(name) for name in DURATIONS}
        return {
            "request_id": storable(self.request_id, 40),
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "user_id": self.user_id,
            "api_key_id": self.key_id,
            "key_prefix": storable(self.key_prefix, 12),
            "team_id": self.team_id,
            "endpoint": storable(self.endpoint, 64),
            "method": storable(self.method, 8),
            "requested_model": storable(self.requested_model, 200),
            "resolved_model": storable(self.resolved_model, 200),
            "backend": storable(self.backend, 100),
            "status": min(max(self.status, 0), 999),
            "error": storable(self.error, 2000),
            "stream": self.stream,
            "prompt_tokens": min(self.prompt_tokens, MAX_COUNT),
            "completion_tokens": min(self.completion_tokens, MAX_COUNT),
            "usage_source": self.usage_source,
            **{name: None if ns is None else ns / 1e6 for name, ns in durations.items()},
            "gpu_ms": self.gpu_ms,
            "ttft_ms": self.ttft_ms,
            "latency_ms": self.latency_ms,
            "client_user": storable(self.client_user, 256),
            "response_id": storable(self.response_id, 64),
        }

    _JSON_FIELDS = (
        "endpoint", "method", "request_id", "user_id", "key_id", "key_prefix", "team_id", "requested_model",
        "resolved_model", "backend", "stream", "client_user", "prompt_tokens", "completion_tokens", "usage_source",
        "durations_ns", "gpu_ms", "ttft_ms", "status", "error", "latency_ms", "response_id", "settlement", "settlement_store",
        "settlement_member",
    )  # fmt: skip

    def to_json(self) -> dict:
        """A finished record as JSON (for the spool, and for rows set aside)."""
        data = {name: getattr(self, name) for name in self._JSON_FIELDS}
        data["created_at"] = self.created_at.isoformat()
        data["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        data["settlement"] = {counter: list(pair) for counter, pair in self.settlement.items()}
        return data

    @classmethod
    def from_json(cls, data: dict) -> "UsageRecord":
        record = cls(endpoint=data["endpoint"])
        for name in cls._JSON_FIELDS:
            if name in data:
                setattr(record, name, data[name])
        record.settlement = {counter: tuple(pair) for counter, pair in (data.get("settlement") or {}).items()}
        record.created_at = datetime.fromisoformat(data["created_at"])
        record.finished_at = datetime.fromisoformat(data["finished_at"]) if data.get("finished_at") else None
        record.finished = True
        return record
