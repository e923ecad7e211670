"""Reading Ollama's native results and stream chunks, whatever protocol the client speaks."""


def usage_of(native: dict) -> tuple[int, int]:
    """(prompt tokens, completion tokens) as Ollama reports them (`prompt_eval_count`, `eval_count`)."""
    return _count(native.get("prompt_eval_count")), _count(native.get("eval_count"))


def _count(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def has_output(chunk: dict) -> bool:
    """Whether a stream chunk carries generated output (text, thinking or tool calls)."""
    message = chunk.get("message")
    if message:
        return bool(message.get("content") or message.get("thinking") or message.get("tool_calls"))
    return bool(chunk.get("response") or chunk.get("thinking"))


class Accumulator:
    """Builds the non-streaming result of /api/chat or /api/generate from its stream's chunks.

    The gateway reads every generation as a stream, so it always knows how far one got (and can
    charge for it) even when the client leaves before the end.
    """

    def __init__(self):
        self.pieces = 0  # chunks that carried output: about one token each
        self.done = False
        self._text: list[str] = []
        self._thinking: list[str] = []
        self._tool_calls: list[dict] = []
        self._logprobs: list = []
        self._last: dict = {}
        self._chat = False

    def feed(self, chunks: list[dict]):
        """Take the chunks that arrived together (one loop over a batch: this runs once per token)."""
        text, thinking_parts, pieces = self._text, self._thinking, 0
        for chunk in chunks:
            message = chunk.get("message")
            if message is not None:
                self._chat = True
                content, thinking, calls = message.get("content"), message.get("thinking"), message.get("tool_calls")
            else:
                content, thinking, calls = chunk.get("response"), chunk.get("thinking"), None
            if content:
                text.append(content)
            if thinking:
                thinking_parts.append(thinking)
            if calls:
                self._tool_calls.extend(calls)
            if content or thinking or calls:
                pieces += 1
            if chunk.get("logprobs"):
                self._logprobs.extend(chunk["logprobs"])
            if chunk.get("done"):
                self.done = True
            self._last = chunk
        self.pieces += pieces

    def result(self) -> dict:
        """The result as Ollama returns it with `"stream": false`."""
        result = {key: value for key, value in self._last.items() if key not in ("message", "response", "thinking")}
        text, thinking = "".join(self._text), "".join(self._thinking)
        if self._chat:
            message = {"role": "assistant", "content": text}
            if thinking:
                message["thinking"] = thinking
            if self._tool_calls:
                message["tool_calls"] = self._tool_calls
            result["message"] = message
        else:
            result["response"] = text
            if thinking:
                result["thinking"] = thinking
        if self._logprobs:
            result["logprobs"] = self._logprobs
        return result
