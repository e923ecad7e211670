"""A loaded GGUF model: chat rendering, tokenization and the token-by-token loop.

Not thread-safe: the runtime lets one request at a time use a model.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import llama_cpp
import numpy as np
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from engine.options import GenerationOptions
from engine.protocol import APIError
from engine.textstream import TextStream


@dataclass(frozen=True)
class Piece:
    """Text ready to send, with the logprobs of the tokens that made it."""

    text: str
    logprobs: list[dict]


@dataclass(frozen=True)
class Finished:
    done_reason: str | None  # None when the client went away
    prompt_eval_count: int
    eval_count: int
    prompt_eval_ns: int
    eval_ns: int
    context: list[int]


class TextModel:
    def __init__(self, path: Path, num_ctx: int, threads: int, chat_template: str | None):
        self._llama = llama_cpp.Llama(
            model_path=str(path),
            n_ctx=num_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
        )
        self.num_ctx = num_ctx
        self._vocab = llama_cpp.llama_model_get_vocab(self._llama.model)
        self._n_vocab = self._llama.n_vocab()
        self._chat = None
        if chat_template:
            self._chat = Jinja2ChatFormatter(
                template=chat_template,
                eos_token=self._piece(self._llama.token_eos(), special=True).decode(errors="replace"),
                bos_token=self._piece(self._llama.token_bos(), special=True).decode(errors="replace"),
            )

    @property
    def can_chat(self) -> bool:
        return self._chat is not None

    def render_chat(self, messages: list[dict]) -> str:
        """The model's own (GGUF) chat template, ending with the assistant's turn."""
        if self._chat is None:
            raise ValueError("model has no chat template")
        try:
            return self._chat(messages=messages).prompt
        except Exception as exc:  # jinja errors, raise_exception() in templates
            raise APIError(400, f"failed to render chat template: {exc}") from exc

    def tokenize(self, text: str) -> list[int]:
        """Tokens as the model sees them: special tokens parsed, BOS if the vocab wants it."""
        return self._llama.tokenize(text.encode(), add_bos=True, special=True)

    def generate(
        self, prompt: list[int], options: GenerationOptions, cancel: threading.Event
    ) -> Iterator[Piece | Finished]:
        """Sample until end of turn, a stop string, `num_predict` or a full context."""
        llama = self._llama
        if options.seed >= 0 or options.temperature <= 0:
            # llama.cpp rounds a batched prompt evaluation differently from the
            # single-token one that reusing the cached prefix needs, so output that
            # should be reproducible (fixed seed, greedy) needs a fresh evaluation.
            llama.reset()
        # LLAMA_DEFAULT_SEED makes llama.cpp pick a random seed, Ollama's default.
        llama.set_seed(options.seed if options.seed >= 0 else llama_cpp.LLAMA_DEFAULT_SEED)
        llama.last_n_tokens_size = self.num_ctx if options.repeat_last_n < 0 else options.repeat_last_n
        grammar = llama_cpp.LlamaGrammar.from_string(options.grammar) if options.grammar else None
        limit = options.num_predict if options.num_predict >= 0 else self.num_ctx
        text = TextStream(options.stop)
        generated: list[int] = []
        logprobs: list[dict] = []
        done_reason = "length" if limit == 0 else None
        started = first_token_at = time.perf_counter_ns()
        tokens = llama.generate(
            prompt,
            temp=options.temperature,
            top_k=options.top_k,
            top_p=options.top_p,
            min_p=options.min_p,
            typical_p=options.typical_p,
            repeat_penalty=options.repeat_penalty,
            presence_penalty=options.presence_penalty,
            frequency_penalty=options.frequency_penalty,
            grammar=grammar,
        )
        try:
            for token in tokens if limit > 0 else ():
                if not generated:
                    first_token_at = time.perf_counter_ns()
                if cancel.is_set():
                    break
                if llama_cpp.llama_vocab_is_eog(self._vocab, token):
                    done_reason = "stop"
                    break
                generated.append(token)
                if options.logprobs:
                    logprobs.append(self._logprob(token, options.top_logprobs))
                piece = text.push(self._piece(token))
                if piece or text.stopped:
                    yield Piece(piece, logprobs)
                    logprobs = []
                if text.stopped:
                    done_reason = "stop"
                    break
                if len(generated) >= limit or len(prompt) + len(generated) >= self.num_ctx:
                    done_reason = "length"
                    break
        finally:
            tokens.close()
        rest = "" if text.stopped else text.finish()
        if rest or logprobs:
            yield Piece(rest, logprobs)
        yield Finished(
            done_reason=done_reason,
            prompt_eval_count=len(prompt),
            eval_count=len(generated),
            prompt_eval_ns=first_token_at - started,
            eval_ns=time.perf_counter_ns() - first_token_at,
            context=prompt + generated,
        )

    def _piece(self, token: int, special: bool = False) -> bytes:
        size = 64
        while True:
            buffer = ctypes.create_string_buffer(size)
            written = llama_cpp.llama_token_to_piece(self._vocab, token, buffer, size, 0, special)
            if written >= 0:
                return buffer.raw[:written]
            size = -written

    def _logprob(self, token: int, top: int) -> dict:
        """Ollama's logprob entry, from the logits the token was sampled from."""
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self._llama.ctx, -1), shape=(self._n_vocab,))
        shifted = logits - logits.max()
        logprobs = shifted - np.log(np.exp(shifted).sum())
        entry = self._token_entry(token, logprobs[token])
        if top:
            best = np.argpartition(-logprobs, top)[:top]
            best = best[np.argsort(-logprobs[best])]
            entry["top_logprobs"] = [self._token_entry(int(t), logprobs[t]) for t in best]
        return entry

    def _token_entry(self, token: int, logprob: float) -> dict:
        data = self._piece(token, special=True)
        return {"token": data.decode(errors="replace"), "logprob": float(logprob), "bytes": list(data)}
