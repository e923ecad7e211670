"""What Ollama's answers must look like where the gateway reads them.

A backend that answers otherwise (not Ollama, or a broken one) is a backend error, not a crash of a
translation, the catalog or a health check, nor a count a charge cannot use: only the fields the gateway
reads are checked; the others are passed on as they are.
"""

from array import array


def _is_text(value) -> bool:
    return type(value) is str


def _is_flag(value) -> bool:
    return type(value) is bool


def _is_amount(value) -> bool:
    """A token count or a duration (ns): what requests are charged by, so an integer (as Ollama's Go
    sends them; the charge reads no other), never negative, within the log's 64-bit columns."""
    return type(value) is int and 0 <= value < 2**63


def _is_tool_call(call) -> bool:
    function = call.get("function") if type(call) is dict else None
    return (
        type(function) is dict
        and type(function.get("name")) is str
        and type(function.get("arguments", "")) in (dict, str)
    )


def _are_tool_calls(calls) -> bool:
    return type(calls) is list and all(_is_tool_call(call) for call in calls)


_MESSAGE_FIELDS = {"role": _is_text, "content": _is_text, "thinking": _is_text, "tool_calls": _are_tool_calls}


def _is_message(message) -> bool:
    return _fits(message, _MESSAGE_FIELDS)


# The fields of a streamed object that the gateway reads, and what each must be (as Ollama sends
# them; null counts as absent). Other fields are passed on as they are.
_READ_FIELDS = {
    "message": _is_message,
    "response": _is_text,
    "thinking": _is_text,
    "done": _is_flag,
    "done_reason": _is_text,
    "prompt_eval_count": _is_amount,
    "eval_count": _is_amount,
    "total_duration": _is_amount,
    "load_duration": _is_amount,
    "prompt_eval_duration": _is_amount,
    "eval_duration": _is_amount,
}


def _fits(item, checks: dict) -> bool:
    """Whether `item` is an object whose fields named in `checks` (when not null) pass their check."""
    if type(item) is not dict:
        return False
    for key, value in item.items():
        check = checks.get(key)
        if check is not None and value is not None and not check(value):
            return False
    return True


def well_formed(item) -> bool:
    """Whether a streamed object has Ollama's shape where the gateway reads it: a backend that
    sends another (not Ollama, or a broken one) is a backend error, not a crash of a translation
    or a count that is answered but cannot be charged."""
    return _fits(item, _READ_FIELDS)


def _is_embed_answer(answer: dict) -> bool:
    embeddings = answer.get("embeddings")
    if type(embeddings) is not list or not well_formed(answer):
        return False
    try:
        for vector in embeddings:
            if type(vector) is not list:
                return False
            array("d", vector)  # numbers only, checked in C (a vector has thousands)
    except TypeError:
        return False
    return True


# What the gateway reads of a listed model (/api/tags, /api/ps), and what each must be.
_LISTING_FIELDS = {
    "name": _is_text,
    "model": _is_text,
    "digest": _is_text,
    "modified_at": _is_text,
    "expires_at": _is_text,
    "size": _is_amount,
    "size_vram": _is_amount,
    "details": lambda value: type(value) is dict,
}


def _is_model_list(answer: dict) -> bool:
    models = answer.get("models")
    if models is None:
        return True
    return type(models) is list and all(_fits(listing, _LISTING_FIELDS) for listing in models)


# Answers checked beyond being objects, by path: the readers (translations, the catalog, health
# checks, charges) rely on their shape.
_ANSWER_SHAPES = {"/api/embed": _is_embed_answer, "/api/tags": _is_model_list, "/api/ps": _is_model_list}


def answer_fits(path: str, answer) -> bool:
    """Whether the answer of a non-streaming endpoint has Ollama's shape where the gateway reads
    it: an object (every answer of Ollama's is), and of its path's shape."""
    return type(answer) is dict and _ANSWER_SHAPES.get(path, well_formed)(answer)
