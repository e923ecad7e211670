"""What a client request asks of the backends, in Ollama's native terms (no protocol in sight)."""

from dataclasses import dataclass, field


@dataclass
class Generation:
    """One client request as native backend calls.

    `payloads` are native request bodies without `model` (the pipeline fills in the resolved
    backend model); each is one backend call, e.g. `n` choices are `n` identical payloads.
    """

    model: str  # the name the client asked for (an alias or a backend model)
    path: str  # /api/chat, /api/generate or /api/embed
    payloads: list[dict] = field(default_factory=list)
    stream: bool = False
    client_user: str = ""
    # `think` is the client's preference, not a requirement: a backend model that cannot think is
    # asked again without it, and backends too old for `think` get the call without it (as
    # Ollama's own /v1/messages relaxes `thinking` for such models).
    think_optional: bool = False

    @property
    def generates(self) -> bool:
        """Whether the calls generate tokens (embeddings do not)."""
        return self.path != "/api/embed"
