"""OpenAI's streaming wire format for chat and text completions: `data: {chunk}` events, `data: [DONE]`."""

from ollamaweb.core.sse import SSE, event

from .common import usage_body

DONE = b"data: [DONE]\n\n"


class ChoicesStream:
    """A completion stream: one per-choice translator per backend call, wrapped in chunk envelopes.

    `envelope(choices, usage)` builds a chunk; each choice translator has `feed(native) -> entry | None`,
    `done` and `finish() -> entry` (the final entry with the finish_reason).
    """

    media_type = SSE

    def __init__(self, choices: list, envelope, include_usage: bool):
        self.choices = choices
        self.envelope = envelope
        self.include_usage = include_usage

    def feed(self, index: int, chunk: dict) -> bytes:
        choice = self.choices[index]
        data = b""
        entry = choice.feed(chunk)
        if entry is not None:
            data += event(self.envelope([entry], None))
        if choice.done:  # a choice may finish without any output (an empty completion)
            data += event(self.envelope([choice.finish()], None))
        return data

    def end(self, prompt_tokens: int, completion_tokens: int) -> bytes:
        if not self.include_usage:
            return DONE
        return event(self.envelope([], usage_body(prompt_tokens, completion_tokens))) + DONE
