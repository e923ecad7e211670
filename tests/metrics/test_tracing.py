"""OpenTelemetry spans of requests through the real server, caught by the SDK's in-memory exporter."""

import time

import httpx
import openai
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from ollamaweb.metrics import tracing
from ollamaweb.quotas.services import set_limits
from ollamaweb.usage.models import RequestLog
from ollamaweb.usage.records import UsageRecord
from tests.conftest import settle_logs
from tests.fake_ollama import Reply
from tests.quotas.helpers import refused_by_the_minute_limit

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    tracing.configure(exporter)
    yield exporter
    tracing.disable()


def finished(exporter, count, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = exporter.get_finished_spans()
        if len(found) >= count:
            return found
        time.sleep(0.02)
    raise AssertionError(f"expected {count} spans, got {[s.name for s in exporter.get_finished_spans()]}")


def by_name(found):
    named = {}
    for span in found:
        named.setdefault(span.name, []).append(span)
    return named


def test_a_stream_has_request_admission_backend_and_settlement_spans(gateway, client, fake_ollama, user, spans):
    set_limits(user=user, tokens_per_day=100_000)  # so admission reserves something
    fake_ollama.reply = Reply(content="a b c", first_token_delay=0.1)
    stream = client.chat.completions.create(model="llama3", messages=HI, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "a b c"
    settle_logs(gateway)
    named = by_name(finished(spans, 4))
    log = RequestLog.objects.get()

    (request,) = named["POST chat.completions"]
    (admission,) = named["admission"]
    (call,) = named["backend call"]
    (settlement,) = named["settlement"]
    assert request.kind == SpanKind.SERVER and request.parent is None
    trace_id = request.context.trace_id
    for child in (admission, call, settlement):
        assert child.context.trace_id == trace_id and child.parent.span_id == request.context.span_id
    assert request.attributes["http.response.status_code"] == 200
    assert request.attributes["ollamaweb.model"] == "llama3"
    assert request.attributes["ollamaweb.completion_tokens"] == log.completion_tokens
    assert call.attributes["ollamaweb.backend"] == log.backend
    (event,) = [e for e in call.events if e.name == "first token"]
    assert event.attributes["ollamaweb.ttft_ms"] == pytest.approx(log.ttft_ms)
    assert event.timestamp - request.start_time >= 0.1e9
    assert admission.end_time <= call.start_time
    assert settlement.start_time >= request.end_time - 1  # from the hand-off to the log writer ...
    assert settlement.end_time > settlement.start_time  # ... until the row was committed


def test_an_incoming_traceparent_is_continued(gateway, api_key, spans):
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    headers = {"Authorization": f"Bearer {api_key[1]}", "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}
    body = {"model": "llama3", "messages": HI}
    assert httpx.post(gateway.url + "/v1/chat/completions", json=body, headers=headers).status_code == 200
    settle_logs(gateway)
    request = by_name(finished(spans, 3))["POST chat.completions"][0]
    assert format(request.context.trace_id, "032x") == trace_id
    assert format(request.parent.span_id, "016x") == "00f067aa0ba902b7"


def test_backend_failures_and_refusals_mark_the_spans(gateway, client, fake_ollama, user, spans):
    fake_ollama.reply = Reply(status=500, error="model runner crashed")
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="llama3", messages=HI)
    settle_logs(gateway)
    named = by_name(finished(spans, 3))
    assert named["backend call"][0].status.status_code == StatusCode.ERROR
    assert named["POST chat.completions"][0].status.status_code == StatusCode.ERROR
    spans.clear()

    fake_ollama.reply = Reply()
    refused_by_the_minute_limit(client, user)
    settle_logs(gateway)
    requests = by_name(finished(spans, 6))["POST chat.completions"]
    refused = [s for s in requests if s.attributes["http.response.status_code"] == 429]
    assert len(refused) == 1
    assert [e.attributes["ollamaweb.limit"] for e in refused[0].events] == ["requests_per_minute"]


def test_off_by_default_costs_nothing_and_makes_no_spans():
    assert not tracing.enabled()
    record = UsageRecord(endpoint="chat.completions")
    tracing.start_request(record, "openai", {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
    assert record.trace is None and record.protocol == "openai"
    assert tracing.stage(record, "admission") is tracing.NOOP
    with tracing.backend_call(record, "b1") as call:
        call.first_token()
        call.done({"total_duration": 5, "eval_duration": 3})
    assert call.span is None
    assert record.durations_ns == {}  # the pipeline adds Ollama's durations itself: never twice
    assert record.ttft_ms is not None and record.backend_ms is not None


def test_the_environment_decides_the_exporter(monkeypatch):
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    assert tracing._exporter_from_environment() is None  # off by default
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    (exporter,) = tracing._exporter_from_environment()
    assert type(exporter).__name__ == "ConsoleSpanExporter"
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert tracing._exporter_from_environment() is None
    monkeypatch.delenv("OTEL_SDK_DISABLED")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert tracing._exporter_from_environment() is None
