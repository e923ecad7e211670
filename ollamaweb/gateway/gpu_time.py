"""Estimating a request's GPU time before it runs, for GPU-time reservations.

Ollama measures every call (prompt_eval_count/prompt_eval_duration, eval_count/eval_duration,
load_duration). Per model, this process keeps moving averages of milliseconds per prompt token,
per output token and per call (whatever else total_duration holds, but loading the model) over
the requests it served; a model not yet measured gets the settings' rates (GPU_MS_PER_PROMPT_TOKEN,
GPU_MS_PER_OUTPUT_TOKEN), which err high. Loading is left out of the estimate: one cold load of
a minute would otherwise inflate the next estimates past a small remaining quota, refusing the very
requests that would teach the model is warm again. The request is charged what Ollama measured
(UsageRecord.charged_gpu_ms), so a load is paid at settlement.
"""

import math
from dataclasses import dataclass

from django.conf import settings

from ollamaweb.core.names import canonical
from ollamaweb.usage.models import RequestLog

WEIGHT = 0.2  # of each new measurement in the moving average
MIN_MS_PER_TOKEN = 0.001


@dataclass(slots=True)
class Rates:
    prompt_ms: float  # per prompt token
    output_ms: float  # per output token
    call_ms: float = 0.0  # per call, beyond its tokens (loading the model, ...)

    def estimate(self, prompt_tokens: int, output_tokens: int, calls: int = 1) -> int:
        """Milliseconds of GPU time for `calls` calls of these sizes together."""
        return math.ceil(calls * self.call_ms + prompt_tokens * self.prompt_ms + output_tokens * self.output_ms)

    def output_tokens_within(self, gpu_ms: int, prompt_tokens: int, calls: int = 1) -> int:
        """How many output tokens fit in `gpu_ms` after the calls' prompts (may be ≤ 0)."""
        return math.floor((gpu_ms - calls * self.call_ms - prompt_tokens * self.prompt_ms) / self.output_ms)


class GpuRates:
    def __init__(self):
        self._measured: dict[str, Rates] = {}

    def for_model(self, model: str) -> Rates:
        rates = self._measured.get(canonical(model))
        if rates is None:
            return Rates(settings.GPU_MS_PER_PROMPT_TOKEN, settings.GPU_MS_PER_OUTPUT_TOKEN)
        return Rates(rates.prompt_ms, rates.output_ms, rates.call_ms)

    def learn(self, record, calls: int = 1):
        """Fold a finished request's measured durations (summed over its `calls`) into its model's rates."""
        durations = record.durations_ns
        total = durations.get("total_duration")
        if record.usage_source != RequestLog.UsageSource.MEASURED or not record.resolved_model or total is None:
            return
        prompt = _per_token(durations.get("prompt_eval_duration"), record.prompt_tokens)
        output = _per_token(durations.get("eval_duration"), record.completion_tokens)
        named = sum(durations.get(name, 0) for name in ("prompt_eval_duration", "eval_duration", "load_duration"))
        call = max(0.0, (total - named) / 1e6) / max(1, calls)
        model = canonical(record.resolved_model)
        rates = self._measured.get(model)
        if rates is None:
            defaults = self.for_model(model)
            self._measured[model] = Rates(prompt or defaults.prompt_ms, output or defaults.output_ms, call)
            return
        if prompt is not None:
            rates.prompt_ms += WEIGHT * (prompt - rates.prompt_ms)
        if output is not None:
            rates.output_ms += WEIGHT * (output - rates.output_ms)
        rates.call_ms += WEIGHT * (call - rates.call_ms)

    def forget(self):
        self._measured.clear()


def _per_token(duration_ns, count: int) -> float | None:
    if not duration_ns or count <= 0:
        return None
    return max(MIN_MS_PER_TOKEN, duration_ns / 1e6 / count)


gpu_rates = GpuRates()
