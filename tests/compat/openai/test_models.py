"""compat.openai.models: Ollama model listings → OpenAI model objects (pure, no DB)."""

import pytest

from compat.openai.models import model_object, models_from_tags
from ollamaweb.core.names import canonical, owner_of


@pytest.mark.parametrize(
    ("name", "owner"),
    [
        ("llama3", "library"),
        ("llama3:latest", "library"),
        ("llama3.2:3b-instruct-q4_K_M", "library"),
        ("someuser/custom:7b", "someuser"),
        ("someuser/custom", "someuser"),
        ("hf.co/unsloth/Qwen3-GGUF:Q4_K_M", "unsloth"),
        ("hf.co/unsloth/Qwen3-GGUF", "unsloth"),
        ("registry.ollama.ai/library/llama3:latest", "library"),
        ("localhost:5000/team/model:v1", "team"),
        ("localhost:5000/team/model", "team"),
    ],
)
def test_owner_of(name, owner):
    assert owner_of(name) == owner


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("llama3", "llama3:latest"),
        ("llama3:latest", "llama3:latest"),
        ("llama3:8b", "llama3:8b"),
        ("someuser/custom", "someuser/custom:latest"),
        ("someuser/custom:7b", "someuser/custom:7b"),
        ("hf.co/unsloth/Qwen3-GGUF:Q4_K_M", "hf.co/unsloth/Qwen3-GGUF:Q4_K_M"),
        ("localhost:5000/team/model", "localhost:5000/team/model:latest"),
    ],
)
def test_canonical(name, expected):
    assert canonical(name) == expected


def test_canonical_is_idempotent():
    for name in ("llama3", "a/b", "hf.co/x/y:z"):
        assert canonical(canonical(name)) == canonical(name)


def test_model_object():
    assert model_object("llama3:latest", 1700000000, "library") == {
        "id": "llama3:latest",
        "object": "model",
        "created": 1700000000,
        "owned_by": "library",
    }


def test_models_from_tags():
    tags = {
        "models": [
            {
                "name": "llama3.2:latest",
                "model": "llama3.2:latest",
                "modified_at": "2023-06-16T17:10:02.123456789Z",
                "size": 2019393189,
                "digest": "a80c4f17acd5",
                "details": {"format": "gguf", "family": "llama"},
            },
            {
                "name": "Qwen3 display name",
                "model": "hf.co/unsloth/Qwen3-GGUF:Q4_K_M",
                "modified_at": "2026-01-12T11:17:51.5+00:00",
            },
            {"name": "someuser/custom:7b", "modified_at": "2023-11-04T14:56:49.277302595-07:00"},
        ]
    }
    assert models_from_tags(tags, 99) == [
        {"id": "llama3.2:latest", "object": "model", "created": 1686935402, "owned_by": "library"},
        {"id": "hf.co/unsloth/Qwen3-GGUF:Q4_K_M", "object": "model", "created": 1768216671, "owned_by": "unsloth"},
        {"id": "someuser/custom:7b", "object": "model", "created": 1699135009, "owned_by": "someuser"},
    ]


def test_models_from_tags_missing_or_bad_timestamp_uses_default():
    tags = {"models": [{"model": "a:latest"}, {"model": "b:latest", "modified_at": "not a time"}]}
    assert [model["created"] for model in models_from_tags(tags, 1234)] == [1234, 1234]


def test_models_from_tags_skips_entries_without_a_name():
    tags = {"models": [{"modified_at": "2024-01-01T00:00:00Z"}, {"model": "", "name": ""}, {"name": "x:latest"}]}
    assert [model["id"] for model in models_from_tags(tags, 0)] == ["x:latest"]


@pytest.mark.parametrize("tags", [{}, {"models": []}, {"models": None}])
def test_models_from_tags_empty(tags):
    assert models_from_tags(tags, 0) == []
