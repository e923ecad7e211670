"""GPU-time estimates: the settings' rates until a model is measured, then what it measured."""

import pytest

from ollamaweb.gateway.gpu_time import GpuRates, Rates
from ollamaweb.usage.models import RequestLog
from ollamaweb.usage.records import UsageRecord


def measured(model, prompt, output, prompt_ms, output_ms, other_ms, load_ms=0, source=RequestLog.UsageSource.MEASURED):
    record = UsageRecord(endpoint="chat", resolved_model=model)
    record.add_usage(prompt, output, source)
    total = prompt_ms + output_ms + other_ms + load_ms
    record.add_durations(
        {
            "total_duration": int(total * 1e6),
            "prompt_eval_duration": int(prompt_ms * 1e6),
            "eval_duration": int(output_ms * 1e6),
            "load_duration": int(load_ms * 1e6),
        }
    )
    return record


def test_unmeasured_models_get_the_settings_rates(settings):
    settings.GPU_MS_PER_PROMPT_TOKEN, settings.GPU_MS_PER_OUTPUT_TOKEN = 2.0, 50.0
    rates = GpuRates().for_model("llama3")
    assert rates.estimate(10, 20) == 10 * 2 + 20 * 50
    assert rates.output_tokens_within(1000, 10) == 19


def test_the_first_measurement_sets_the_rates_and_later_ones_move_them():
    rates = GpuRates()
    rates.learn(measured("llama3", prompt=100, output=50, prompt_ms=20, output_ms=1000, other_ms=30))
    first = rates.for_model("llama3:latest")  # the same model
    assert (first.prompt_ms, first.output_ms, first.call_ms) == pytest.approx((0.2, 20.0, 30.0))
    rates.learn(measured("llama3", prompt=100, output=50, prompt_ms=20, output_ms=2000, other_ms=30))
    assert rates.for_model("llama3").output_ms == pytest.approx(20.0 + 0.2 * (40.0 - 20.0))
    assert rates.for_model("qwen3").output_ms != pytest.approx(first.output_ms)  # per model


def test_requests_cut_short_teach_nothing(settings):
    rates = GpuRates()
    rates.learn(measured("llama3", 10, 5, 1, 1, 1, source=RequestLog.UsageSource.COUNTED))
    unmeasured = Rates(settings.GPU_MS_PER_PROMPT_TOKEN, settings.GPU_MS_PER_OUTPUT_TOKEN)
    assert rates.for_model("llama3") == unmeasured


def test_several_calls_share_the_per_call_time():
    assert Rates(0.5, 10.0, call_ms=40.0).estimate(prompt_tokens=100, output_tokens=30, calls=3) == 120 + 50 + 300


def test_a_cold_load_is_charged_but_not_estimated_for_the_next_requests():
    """A minute of loading must not push the next estimates past a small remaining quota."""
    rates = GpuRates()
    rates.learn(measured("llama3", prompt=100, output=50, prompt_ms=20, output_ms=1000, other_ms=2, load_ms=60_000))
    assert rates.for_model("llama3").estimate(100, 50) == 20 + 1000 + 2
