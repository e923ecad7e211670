"""Generation.think_optional: `think` as a preference (the pure helpers; end to end in tests/api/test_messages.py)."""

from types import SimpleNamespace

import pytest

from ollamaweb.core.errors import InvalidRequest
from ollamaweb.gateway.generation import Generation
from ollamaweb.gateway.pipeline import _adapt, _features, thinking_unsupported

PAYLOAD = {"messages": [{"role": "user", "content": "hi"}], "think": True}


def backend(version):
    return SimpleNamespace(version=version, name="b0")


def test_required_features_ignore_an_optional_think():
    assert _features(Generation("m", "/api/chat", [dict(PAYLOAD)])) == frozenset({"think"})
    assert _features(Generation("m", "/api/chat", [dict(PAYLOAD)], think_optional=True)) == frozenset()


def test_an_old_backend_gets_an_optional_think_dropped_and_a_required_one_refused():
    assert "think" not in _adapt(PAYLOAD, backend((0, 6, 5)), think_optional=True)
    with pytest.raises(InvalidRequest, match="runs Ollama 0.6.5"):
        _adapt(PAYLOAD, backend((0, 6, 5)), think_optional=False)
    assert _adapt(PAYLOAD, backend((0, 33, 0)), think_optional=True)["think"] is True
    assert _adapt({**PAYLOAD, "think": False}, backend((0, 6, 5)), think_optional=True).get("think") is None


def test_thinking_unsupported_matches_only_ollamas_capability_refusal_of_a_sent_think():
    refusal = InvalidRequest('"llama3" does not support thinking')
    assert thinking_unsupported(refusal, {"think": True})
    assert thinking_unsupported(refusal, {"think": "high"})
    assert not thinking_unsupported(refusal, {"think": False})
    assert not thinking_unsupported(refusal, {})
    assert not thinking_unsupported(InvalidRequest("llama3 does not support tools"), {"think": True})
