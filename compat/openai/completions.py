"""/v1/completions (legacy text completions) ⇄ Ollama /api/generate."""

from dataclasses import dataclass

from ollamaweb.core.errors import InvalidRequest

from .common import (
    TOKEN_COUNT_MAX,
    check_logit_bias,
    finish_reason,
    get_bool,
    get_int,
    get_n,
    get_stream_options,
    get_string,
    require_object,
    sampling_options,
    texts_or_token_lists,
)


@dataclass
class CompletionRequest:
    model: str
    prompts: list  # texts, or token-id lists (token_ids=True) to be decoded before calling Ollama
    native: dict  # /api/generate body without `model` and `prompt`
    n: int = 1
    stream: bool = False
    include_usage: bool = False
    logprobs: int | None = None
    echo: bool = False
    client_user: str = ""
    token_ids: bool = False

    def choice_index(self, prompt_index: int, sample: int) -> int:
        """OpenAI numbers choices prompt by prompt: prompt i, sample j → i * n + j."""
        return prompt_index * self.n + sample


def parse_completion_request(body, max_choices: int) -> CompletionRequest:
    body = require_object(body)
    model = get_string(body, "model", required=True, allow_empty=False)
    prompts, token_ids = texts_or_token_lists(body.get("prompt"), "prompt")
    stream = bool(get_bool(body, "stream", False))
    n = get_n(body, max_choices)
    best_of = get_int(body, "best_of", minimum=1)
    if best_of is not None and best_of != n:
        raise InvalidRequest(
            "best_of different from n is not supported: Ollama cannot rank candidate completions.",
            param="best_of",
            code="unsupported_parameter",
        )
    if len(prompts) * n > max_choices:
        raise InvalidRequest(
            f"Too many choices: {len(prompts)} prompts × n={n} exceeds this server's limit of {max_choices}.",
            param="prompt",
            code="invalid_value",
        )
    native = {"stream": stream}
    suffix = get_string(body, "suffix")
    if suffix:
        native["suffix"] = suffix
    options = sampling_options(body)
    max_tokens = get_int(body, "max_tokens", minimum=1, maximum=TOKEN_COUNT_MAX)
    if max_tokens:
        options["num_predict"] = max_tokens
    if options:
        native["options"] = options
    logprobs = get_int(body, "logprobs", minimum=0, maximum=20)
    if logprobs is not None:
        native["logprobs"] = True
        if logprobs:
            native["top_logprobs"] = logprobs
    check_logit_bias(body)
    return CompletionRequest(
        model=model,
        prompts=prompts,
        native=native,
        n=n,
        stream=stream,
        include_usage=get_stream_options(body, stream),
        logprobs=logprobs,
        echo=bool(get_bool(body, "echo", False)),
        client_user=get_string(body, "user") or "",
        token_ids=token_ids,
    )


class CompletionLogprobs:
    """Accumulates OpenAI's legacy logprobs object (tokens, token_logprobs, top_logprobs, text_offset)."""

    def __init__(self, offset: int = 0):
        self.offset = offset

    def convert(self, entries: list[dict]) -> dict:
        result = {"tokens": [], "token_logprobs": [], "top_logprobs": [], "text_offset": []}
        for entry in entries:
            token = entry.get("token", "")
            result["tokens"].append(token)
            result["token_logprobs"].append(entry.get("logprob", 0.0))
            result["top_logprobs"].append(
                {top.get("token", ""): top.get("logprob", 0.0) for top in entry.get("top_logprobs") or ()}
            )
            result["text_offset"].append(self.offset)
            self.offset += len(token)
        return result


def completion_choice(native: dict, index: int, request: CompletionRequest, prompt: str) -> dict:
    prefix = prompt if request.echo else ""
    logprobs = None
    if request.logprobs is not None:
        logprobs = CompletionLogprobs(len(prefix)).convert(native.get("logprobs") or [])
    return {
        "text": prefix + (native.get("response") or ""),
        "index": index,
        "logprobs": logprobs,
        "finish_reason": finish_reason(native.get("done_reason")),
    }


class CompletionStream:
    """Translates one choice's native /api/generate stream into `choices[]` entries."""

    def __init__(self, index: int, request: CompletionRequest, prompt: str):
        self.index = index
        self.logprobs = request.logprobs is not None
        self.echo = prompt if request.echo else ""
        self.offsets = CompletionLogprobs(len(self.echo))
        self.done = False
        self.done_reason = None

    def feed(self, native: dict) -> dict | None:
        text = native.get("response") or ""
        if native.get("done"):
            self.done = True
            self.done_reason = native.get("done_reason")
        entries = native.get("logprobs") if self.logprobs else None
        if self.echo:
            text, self.echo = self.echo + text, ""
        if not text and not entries:
            return None
        return {
            "text": text,
            "index": self.index,
            "logprobs": self.offsets.convert(entries or []) if self.logprobs else None,
            "finish_reason": None,
        }

    def finish(self) -> dict:
        return {"text": "", "index": self.index, "logprobs": None, "finish_reason": finish_reason(self.done_reason)}
