"""/api/tags, /api/ps and /api/version over several backends plus aliases (pure)."""

from compat.ollama import listing


def tag(name, modified, digest="d", family="llama"):
    return {
        "name": name,
        "model": name,
        "modified_at": modified,
        "size": 1,
        "digest": digest,
        "details": {"family": family},
    }


GPU1 = [tag("llama3:latest", "2026-01-01T00:00:00Z", "a"), tag("all-minilm:latest", "2026-02-01T00:00:00Z")]
GPU2 = [tag("llama3:latest", "2026-03-01T00:00:00Z", "b"), tag("qwen3:8b", "2025-12-01T00:00:00Z", family="qwen3")]


def names(answer):
    return [entry["name"] for entry in answer["models"]]


def test_tags_are_the_union_newest_first():
    answer = listing.tags([GPU1, GPU2], {}, ())
    assert names(answer) == ["llama3:latest", "all-minilm:latest", "qwen3:8b"]
    assert answer["models"][0]["digest"] == "b"  # the newest copy's details


def test_aliases_are_listed_with_their_targets_details():
    answer = listing.tags([GPU1, GPU2], {"gpt-4o": "qwen3:8b", "broken": "missing:1b", "embed": "all-minilm"}, ())
    by_name = {entry["name"]: entry for entry in answer["models"]}
    assert by_name["gpt-4o:latest"]["details"] == {"family": "qwen3"}
    assert by_name["gpt-4o:latest"]["model"] == "gpt-4o:latest"
    assert "embed:latest" in by_name
    assert "broken:latest" not in by_name  # an alias of a model no backend has


def test_an_allow_list_shows_only_its_names():
    answer = listing.tags([GPU1, GPU2], {"gpt-4o": "qwen3:8b"}, ["gpt-4o", "llama3"])
    assert names(answer) == ["llama3:latest", "gpt-4o:latest"]
    assert listing.tags([GPU1], {}, ["nothing"]) == {"models": []}


def test_empty_and_malformed_listings():
    assert listing.tags([], {}, ()) == {"models": []}
    assert listing.tags([[{"size": 1}, "junk"], None], {}, ()) == {"models": []}


def test_ps_merges_loaded_models_latest_expiry_first():
    ps1 = [{"name": "llama3:latest", "model": "llama3:latest", "expires_at": "2026-01-01T00:05:00Z", "size_vram": 1}]
    ps2 = [
        {"name": "llama3:latest", "model": "llama3:latest", "expires_at": "2026-01-01T00:09:00Z", "size_vram": 2},
        {"name": "qwen3:8b", "model": "qwen3:8b", "expires_at": "2026-01-01T00:07:00Z"},
    ]
    answer = listing.running([ps1, ps2], {"gpt-4o": "qwen3:8b"}, ())
    assert names(answer) == ["llama3:latest", "gpt-4o:latest", "qwen3:8b"]
    assert answer["models"][0]["size_vram"] == 2
    assert names(listing.running([ps1, ps2], {"gpt-4o": "qwen3:8b"}, ["gpt-4o"])) == ["gpt-4o:latest"]


def test_newest_version():
    assert listing.newest_version(["0.6.5", "0.12.3", "0.9.0", ""]) == "0.12.3"
    assert listing.newest_version(["0.13.0-rc1", "0.13.0"]) == "0.13.0"
    assert listing.newest_version([]) == "0.0.0"
