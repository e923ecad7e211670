"""POST /api/chat and POST /api/generate."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

from engine import protocol
from engine.concurrency import iterate_in_thread
from engine.http import Request, Response, StreamResponse, json_response
from engine.llm import Finished, Piece
from engine.models import ModelCard
from engine.options import GenerationOptions, parse_generation
from engine.prompts import ChatPrompt, TextPrompt
from engine.protocol import APIError, unsupported
from engine.runtime import Runtime


def _text_model(runtime: Runtime, body: dict, endpoint: str) -> ModelCard:
    name = body.get("model")
    if not isinstance(name, str) or not name:
        # Ollama's chat and generate handlers differ here.
        raise APIError(400, "model is required") if endpoint == "chat" else protocol.model_not_found("")
    card = runtime.find(name)
    if "completion" not in card.capabilities:
        raise unsupported(card, endpoint)
    if body.get("think") not in (None, False):
        raise unsupported(card, "thinking")
    return card


def _messages(card: ModelCard, body: dict) -> list[dict]:
    messages = body.get("messages") or []
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise APIError(400, "invalid message format")
    if body.get("tools"):
        raise unsupported(card, "tools")
    if any(m.get("images") for m in messages):
        raise unsupported(card, "vision")
    if messages and card.chat_template is None:
        raise unsupported(card, "chat")
    return [{"role": str(m.get("role", "user")), "content": str(m.get("content") or "")} for m in messages]


async def chat(runtime: Runtime, request: Request) -> Response | StreamResponse:
    body = request.json()
    card = _text_model(runtime, body, "chat")
    messages = _messages(card, body)
    options = parse_generation(body)
    if not messages:
        done_reason = await _load_or_unload(runtime, card, request, body, options)
        return json_response(protocol.chat_line(card.name, "") | {"done": True, "done_reason": done_reason})
    prompt = ChatPrompt(messages=messages, truncate=body.get("truncate", True) is not False)

    def final(finished: Finished, metrics: dict) -> dict:
        return protocol.chat_line(card.name, "") | {"done": True, "done_reason": finished.done_reason} | metrics

    lines = _lines(runtime, card, request, prompt, options, protocol.chat_line, final)
    return StreamResponse(lines) if body.get("stream", True) is not False else await _collect(lines, "message")


async def generate(runtime: Runtime, request: Request) -> Response | StreamResponse:
    body = request.json()
    card = _text_model(runtime, body, "generate")
    if body.get("images"):
        raise unsupported(card, "vision")
    if body.get("suffix"):
        raise unsupported(card, "insert")
    if body.get("template"):
        raise APIError(400, "custom templates are not supported by this engine")
    options = parse_generation(body)
    prompt_text = body.get("prompt") or ""
    if not isinstance(prompt_text, str):
        raise APIError(400, "prompt must be a string")
    if not prompt_text:
        done_reason = await _load_or_unload(runtime, card, request, body, options)
        return json_response(protocol.generate_line(card.name, "") | {"done": True, "done_reason": done_reason})
    raw = bool(body.get("raw"))
    prompt = TextPrompt(
        prompt=prompt_text,
        system=body.get("system"),
        raw=raw,
        context=[int(token) for token in body.get("context") or []],
        truncate=body.get("truncate", True) is not False,
    )

    def final(finished: Finished, metrics: dict) -> dict:
        line = protocol.generate_line(card.name, "") | {"done": True, "done_reason": finished.done_reason}
        return line | ({} if raw else {"context": finished.context}) | metrics

    lines = _lines(runtime, card, request, prompt, options, protocol.generate_line, final)
    return StreamResponse(lines) if body.get("stream", True) is not False else await _collect(lines, "response")


async def _load_or_unload(
    runtime: Runtime, card: ModelCard, request: Request, body: dict, options: GenerationOptions
) -> str:
    """An empty request loads the model, or unloads it with `keep_alive: 0`."""
    if body.get("keep_alive") in (0, "0", "0s"):
        await runtime.unload(card, request.cancel)
        return "unload"
    async with runtime.use(card, request.cancel, options.num_ctx):
        return "load"


async def _lines(
    runtime: Runtime,
    card: ModelCard,
    request: Request,
    prompt: ChatPrompt | TextPrompt,
    options: GenerationOptions,
    line: Callable[[str, str, list[dict]], dict],
    final: Callable[[Finished, dict], dict],
) -> AsyncIterator[dict]:
    """Stream lines; the final one carries done_reason and metrics (none if the client left)."""
    started = time.perf_counter_ns()
    async with runtime.use(card, request.cancel, options.num_ctx) as (model, load_ns):

        def run():
            yield from model.generate(prompt.tokens(model, options), options, request.cancel.flag)

        with runtime.stats.running():
            async for event in iterate_in_thread(run, request.cancel):
                if isinstance(event, Piece):
                    yield line(card.name, event.text, event.logprobs)
                else:
                    finished = event
    runtime.stats.record(card.name, finished)
    if finished.done_reason is not None:
        metrics = protocol.metrics(
            total_ns=time.perf_counter_ns() - started,
            load_ns=load_ns,
            prompt_eval_count=finished.prompt_eval_count,
            prompt_eval_ns=finished.prompt_eval_ns,
            eval_count=finished.eval_count,
            eval_ns=finished.eval_ns,
        )
        yield final(finished, metrics)


async def _collect(lines: AsyncIterator[dict], field: str) -> Response:
    """`stream: false`: the final line, with all text and logprobs gathered into it."""
    text, logprobs, last = [], [], {}
    async for last in lines:
        piece = last.get(field)
        text.append(piece["content"] if field == "message" else piece)
        logprobs += last.get("logprobs", [])
    result = dict(last)
    result[field] = {"role": "assistant", "content": "".join(text)} if field == "message" else "".join(text)
    if logprobs:
        result["logprobs"] = logprobs
    return json_response(result)
