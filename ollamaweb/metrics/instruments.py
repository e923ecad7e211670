"""The Prometheus metrics of the request path, observed once per finished request.

Every value comes from the finished UsageRecord that the usage app hands to its hooks
(`ollamaweb.usage.hooks.on_request_finished`), so the request path pays one callback per request
and no protocol or view knows about Prometheus. Label values are bounded: endpoints, models and
backends beyond the first LABEL_LIMIT distinct values of a process are reported as "other", and a
model is only named when a backend served it or it is known to the backends (a client sending random
model names cannot grow the label set). The `team` label (requests, tokens, GPU seconds, request
duration) is the charged team's name, "" for none, and at most METRICS_MAX_TEAMS teams per process
(the rest "other"; 0: always "").

With PROMETHEUS_MULTIPROC_DIR set (several uvicorn workers), prometheus_client keeps the values in
memory-mapped files in that folder and /metrics adds up every worker's (see views.py).
"""

from datetime import UTC, datetime

from django.conf import settings
from prometheus_client import Counter, Histogram

from ollamaweb.core.names import canonical
from ollamaweb.teams.policy import team_directory

LABEL_LIMIT = 200
OTHER = "other"

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
OVERHEAD_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5)
WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

REQUESTS = Counter(
    "ollamaweb_requests",
    "Requests served, by protocol, endpoint, model (canonical name), backend, status class and team charged.",
    ["protocol", "endpoint", "model", "backend", "status_class", "team"],
)
TOKENS = Counter(
    "ollamaweb_tokens",
    "Tokens processed: direction=in (prompt) or out (completion), as Ollama reported them.",
    ["protocol", "model", "backend", "direction", "team"],
)
GPU_SECONDS = Counter(
    "ollamaweb_gpu_seconds",
    "Backend time of generations (Ollama's total_duration), seconds.",
    ["model", "backend", "team"],
)
GPU_PHASE_SECONDS = Counter(
    "ollamaweb_gpu_phase_seconds",
    "Backend time by phase: load, prompt_eval, eval (Ollama's *_duration), seconds.",
    ["model", "backend", "phase"],
)
TTFT = Histogram(
    "ollamaweb_time_to_first_token_seconds",
    "Time from the request's arrival to its first output token, seconds.",
    ["protocol", "model", "backend"],
    buckets=LATENCY_BUCKETS,
)
LATENCY = Histogram(
    "ollamaweb_request_duration_seconds",
    "Time from the request's arrival to its last byte, seconds.",
    ["protocol", "endpoint", "model", "status_class", "team"],
    buckets=LATENCY_BUCKETS,
)
OVERHEAD = Histogram(
    "ollamaweb_gateway_overhead_seconds",
    "Time of a request not spent waiting for a backend (auth, quotas, routing, translation), seconds.",
    ["protocol", "endpoint"],
    buckets=OVERHEAD_BUCKETS,
)
QUEUE_WAIT = Histogram(
    "ollamaweb_queue_wait_seconds",
    "Time waiting for a backend slot (backends with max_concurrent), seconds.",
    ["backend"],
    buckets=WAIT_BUCKETS,
)
QUOTA_REFUSALS = Counter(
    "ollamaweb_quota_refusals",
    "Requests refused by a quota: limit=tokens_per_day, tokens_per_month, requests_per_minute, "
    "max_concurrent or store_unavailable.",
    ["limit"],
)
FAILOVERS = Counter(
    "ollamaweb_failovers",
    "Requests retried on another backend after one failed before answering.",
    ["model"],
)
BACKEND_ERRORS = Counter(
    "ollamaweb_backend_errors",
    "Failed backend calls: kind=unavailable, busy, timeout, not_found, error.",
    ["backend", "kind"],
)
DISCONNECTS = Counter(
    "ollamaweb_client_disconnects",
    "Requests (streams and not) the client abandoned before the response was complete.",
    ["protocol", "endpoint", "model", "stream"],
)
LOG_LAG = Histogram(
    "ollamaweb_log_writer_lag_seconds",
    "Time from a request's end until its log row was written (and its quota settled), seconds.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
ROWS_SET_ASIDE = Counter(
    "ollamaweb_log_rows_set_aside",
    "Request-log rows the writer could not store and set aside.",
)

LIMITS = frozenset({"tokens_per_day", "tokens_per_month", "requests_per_minute", "max_concurrent", "store_unavailable"})
ERROR_KINDS = frozenset({"unavailable", "busy", "timeout", "not_found", "error"})


class BoundedLabel:
    """The first `limit` distinct values pass; later new ones become "other"."""

    __slots__ = ("limit", "seen")

    def __init__(self, limit: int = LABEL_LIMIT):
        self.limit = limit
        self.seen: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self.seen:
            return value
        if len(self.seen) >= self.limit:
            return OTHER
        self.seen.add(value)
        return value


endpoints = BoundedLabel(50)
models = BoundedLabel()
backends = BoundedLabel(100)
protocols = BoundedLabel(10)
teams = BoundedLabel(settings.METRICS_MAX_TEAMS)


def known_model(name: str) -> bool:
    """Whether a backend lists this model (from the health checks' /api/tags)."""
    from ollamaweb.backends.registry import registry

    return any(name in state.models for state in registry._states.values())


def model_label(record) -> str:
    name = record.resolved_model or record.requested_model
    if not name:
        return "none"
    name = canonical(name)
    if record.backend or name in models.seen or known_model(name):
        return models(name)
    return OTHER


def team_label(record) -> str:
    """The charged team's name ("" for none), bounded to METRICS_MAX_TEAMS teams per process."""
    if record.team_id is None or teams.limit <= 0:
        return ""
    # The snapshot the request was just charged by: this hook runs in the event loop and must not wait.
    team = team_directory.last.teams.get(record.team_id)
    return teams(team.name) if team is not None else OTHER  # None: deleted since the request began


def status_class(status: int) -> str:
    return f"{status // 100}xx" if 100 <= status < 600 else "unknown"


class _Children:
    """The labelled children of one (protocol, endpoint, model, backend, status class, team), looked up once:
    `Metric.labels()` validates and locks on every call, a cached child costs one dict lookup."""

    __slots__ = ("requests", "latency", "overhead", "tokens_in", "tokens_out", "ttft", "gpu", "load", "prompt", "eval")

    def __init__(self, protocol, endpoint, model, backend, klass, team):
        self.requests = REQUESTS.labels(protocol, endpoint, model, backend, klass, team)
        self.latency = LATENCY.labels(protocol, endpoint, model, klass, team)
        self.overhead = OVERHEAD.labels(protocol, endpoint)
        self.tokens_in = TOKENS.labels(protocol, model, backend, "in", team)
        self.tokens_out = TOKENS.labels(protocol, model, backend, "out", team)
        self.ttft = TTFT.labels(protocol, model, backend)
        self.gpu = GPU_SECONDS.labels(model, backend, team)
        self.load = GPU_PHASE_SECONDS.labels(model, backend, "load")
        self.prompt = GPU_PHASE_SECONDS.labels(model, backend, "prompt_eval")
        self.eval = GPU_PHASE_SECONDS.labels(model, backend, "eval")


_children: dict[tuple, _Children] = {}


def observe(record):
    """Count one finished request (a usage hook: runs in `log_writer.submit`, must be quick)."""
    protocol = protocols(record.protocol or "openai")
    endpoint = endpoints(record.endpoint or "unknown")
    model = model_label(record)
    backend = backends(record.backend) if record.backend else "none"
    status = record.status
    klass = f"{status // 100}xx" if 100 <= status < 600 else "unknown"
    key = (protocol, endpoint, model, backend, klass, team_label(record))
    children = _children.get(key)
    if children is None:
        children = _children[key] = _Children(*key)
    children.requests.inc()
    latency = record.latency_ms / 1000
    children.latency.observe(latency)
    backend_ms = record.backend_ms
    children.overhead.observe(max(0.0, latency - (backend_ms or 0.0) / 1000))
    if record.prompt_tokens:
        children.tokens_in.inc(record.prompt_tokens)
    if record.completion_tokens:
        children.tokens_out.inc(record.completion_tokens)
    if record.ttft_ms is not None:
        children.ttft.observe(record.ttft_ms / 1000)
    durations = record.durations_ns
    if durations:
        if durations.get("total_duration"):
            children.gpu.inc(durations["total_duration"] / 1e9)
        if durations.get("load_duration"):
            children.load.inc(durations["load_duration"] / 1e9)
        if durations.get("prompt_eval_duration"):
            children.prompt.inc(durations["prompt_eval_duration"] / 1e9)
        if durations.get("eval_duration"):
            children.eval.inc(durations["eval_duration"] / 1e9)
    # Rarer events: looked up by labels when they happen.
    if record.queue_wait_ms is not None:
        QUEUE_WAIT.labels(backend).observe(record.queue_wait_ms / 1000)
    if record.refusal:
        QUOTA_REFUSALS.labels(record.refusal if record.refusal in LIMITS else OTHER).inc()
    if record.failovers:
        FAILOVERS.labels(model).inc(record.failovers)
    for name, kind in record.backend_errors:
        BACKEND_ERRORS.labels(backends(name), kind if kind in ERROR_KINDS else "error").inc()
    if status == 499:
        DISCONNECTS.labels(protocol, endpoint, model, "true" if record.stream else "false").inc()


_set_aside_seen = 0


async def observe_written(records):
    """Log-writer lag, from each request's end to the batch's commit, and the rows the writer set
    aside since the last batch (a usage hook, after each batch)."""
    global _set_aside_seen
    now = datetime.now(UTC)
    for record in records:
        if record.finished_at is not None:
            LOG_LAG.observe(max(0.0, (now - record.finished_at).total_seconds()))
    from ollamaweb.usage.writer import log_writer

    total = getattr(log_writer, "set_aside_total", 0)
    if total > _set_aside_seen:
        ROWS_SET_ASIDE.inc(total - _set_aside_seen)
    _set_aside_seen = max(_set_aside_seen, total)
