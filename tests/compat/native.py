"""Native /api/chat results, as Ollama sends them, for the translation tests."""


def native_chat(content="", thinking="", tool_calls=None, *, done_reason=None, prompt=None, completion=None, **fields):
    """A chunk of a native /api/chat stream; with a `done_reason`, its last chunk or a whole answer. Thinking, tool
    calls and token counts are sent only when there are some; `fields` go first (model, created_at, logprobs)."""
    message = {"role": "assistant", "content": content}
    if thinking:
        message["thinking"] = thinking
    if tool_calls:
        message["tool_calls"] = tool_calls
    native = {**fields, "message": message, "done": done_reason is not None}
    if done_reason is not None:
        native["done_reason"] = done_reason
    if prompt is not None:
        native["prompt_eval_count"] = prompt
    if completion is not None:
        native["eval_count"] = completion
    return native
