"""Rules about Ollama model names."""


def canonical(name: str) -> str:
    """`llama3` and `llama3:latest` name the same model."""
    return name if ":" in name.rsplit("/", 1)[-1] else name + ":latest"


def owner_of(name: str) -> str:
    """The namespace of a model name: `someuser/custom:7b` → someuser, `hf.co/org/repo` → org."""
    path = name.split(":", 1)[0] if "/" not in name.split(":", 1)[-1] else name
    parts = path.split("/")
    if len(parts) >= 3:
        return parts[-2]
    if len(parts) == 2:
        return parts[0]
    return "library"
