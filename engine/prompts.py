"""Build the prompt tokens of a chat or generate request, fitted to the context.

Runs in the worker thread, once the model is loaded: it needs its tokenizer.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.llm import TextModel
from engine.options import GenerationOptions
from engine.protocol import APIError


def fit_context(tokens: list[int], num_ctx: int, options: GenerationOptions, truncate: bool) -> list[int]:
    """Leave room to answer: an over-long prompt keeps its first `num_keep` tokens
    and its most recent ones, up to half the context (there is no context shift)."""
    if len(tokens) < num_ctx:
        return tokens
    if not truncate:
        raise APIError(400, "the input length exceeds the context length")
    keep = min(max(options.num_keep, 0), num_ctx // 4)
    return tokens[:keep] + tokens[len(tokens) - (num_ctx // 2 - keep) :]


@dataclass(frozen=True)
class ChatPrompt:
    messages: list[dict]
    truncate: bool

    def tokens(self, model: TextModel, options: GenerationOptions) -> list[int]:
        """Drop the oldest non-system messages (never the last) until the prompt fits."""
        messages = list(self.messages)
        tokens = model.tokenize(model.render_chat(messages))
        while len(tokens) >= model.num_ctx and self.truncate:
            oldest = next((i for i, m in enumerate(messages[:-1]) if m["role"] != "system"), None)
            if oldest is None:
                break
            del messages[oldest]
            tokens = model.tokenize(model.render_chat(messages))
        return fit_context(tokens, model.num_ctx, options, self.truncate)


@dataclass(frozen=True)
class TextPrompt:
    """/api/generate: the prompt goes through the chat template unless `raw` or there is none."""

    prompt: str
    system: str | None
    raw: bool
    context: list[int]
    truncate: bool

    def tokens(self, model: TextModel, options: GenerationOptions) -> list[int]:
        text = self.prompt
        if not self.raw and model.can_chat:
            messages = [{"role": "system", "content": self.system}] if self.system else []
            text = model.render_chat(messages + [{"role": "user", "content": self.prompt}])
        return fit_context(self.context + model.tokenize(text), model.num_ctx, options, self.truncate)
