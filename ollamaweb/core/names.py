"""Model names: one spelling for one model."""


def canonical(name: str) -> str:
    """`llama3` and `llama3:latest` name the same model."""
    return name if ":" in name.rsplit("/", 1)[-1] else name + ":latest"
