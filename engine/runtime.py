"""Loaded models and the per-model queue that lets one request at a time use each."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass

from engine.concurrency import CancelToken, acquire_unless_cancelled
from engine.embedder import Embedder
from engine.llm import Finished, TextModel
from engine.models import ModelCard, OnnxEmbeddingSource, normalize_name
from engine.protocol import APIError, model_not_found

log = logging.getLogger("engine")

DEFAULT_NUM_CTX = 4096


@dataclass
class Stats:
    """Counters served at GET /_engine/stats (not part of Ollama's API)."""

    started: int = 0
    completed: int = 0
    cancelled: int = 0
    tokens_generated: int = 0
    active: int = 0
    queued: int = 0

    def as_dict(self) -> dict:
        return asdict(self)

    @contextmanager
    def running(self) -> Iterator[None]:
        self.started += 1
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1

    def record(self, model: str, finished: Finished) -> None:
        self.tokens_generated += finished.eval_count
        if finished.done_reason is None:
            self.cancelled += 1
            log.info("%s: client disconnected, stopped after %d tokens", model, finished.eval_count)
        else:
            self.completed += 1


class Runtime:
    def __init__(self, catalog: dict[str, ModelCard], threads: int):
        self.catalog = catalog
        self.threads = threads
        self.stats = Stats()
        self._locks: dict[str, asyncio.Lock] = {}
        self._loaded: dict[str, TextModel | Embedder] = {}

    def find(self, name: str) -> ModelCard:
        normalized = normalize_name(name)
        if normalized is None:
            raise APIError(400, "invalid model name")
        card = self.catalog.get(normalized)
        if card is None:
            raise model_not_found(name)
        return card

    def loaded(self) -> list[tuple[ModelCard, int]]:
        """Loaded models with the context length each was loaded with."""
        return [
            (self.catalog[name], getattr(model, "num_ctx", self.catalog[name].context_length))
            for name, model in list(self._loaded.items())
        ]

    @asynccontextmanager
    async def use(
        self, card: ModelCard, token: CancelToken, num_ctx: int = 0
    ) -> AsyncIterator[tuple[TextModel | Embedder, int]]:
        """Wait for the model's turn (FIFO), load it if needed; yields (model, load_ns)."""
        lock = self._locks.setdefault(card.name, asyncio.Lock())
        self.stats.queued += 1
        try:
            await acquire_unless_cancelled(lock, token)
        finally:
            self.stats.queued -= 1
        try:
            started = time.perf_counter_ns()
            model = await asyncio.to_thread(self._load, card, num_ctx)
            yield model, time.perf_counter_ns() - started
        finally:
            lock.release()

    async def unload(self, card: ModelCard, token: CancelToken) -> None:
        lock = self._locks.setdefault(card.name, asyncio.Lock())
        await acquire_unless_cancelled(lock, token)
        try:
            self._loaded.pop(card.name, None)
        finally:
            lock.release()

    def _load(self, card: ModelCard, num_ctx: int) -> TextModel | Embedder:
        """Load on first use; reload a text model asked for another context size."""
        model = self._loaded.get(card.name)
        if isinstance(card.source, OnnxEmbeddingSource):
            if model is None:
                model = Embedder(card.source, self.threads)
        else:
            num_ctx = min(num_ctx or DEFAULT_NUM_CTX, card.context_length)
            if model is None or model.num_ctx != num_ctx:
                self._loaded.pop(card.name, None)
                del model  # free the old context before allocating the new one
                model = TextModel(card.source.locate(), num_ctx, self.threads, card.chat_template)
                log.info("%s: loaded with num_ctx %d", card.name, num_ctx)
        self._loaded[card.name] = model
        return model
