"""POST /api/embed and the legacy POST /api/embeddings."""

from __future__ import annotations

import asyncio
import time

import numpy as np

from engine.http import Request, Response, json_response
from engine.models import ModelCard
from engine.protocol import APIError, unsupported
from engine.runtime import Runtime


def _embedding_model(runtime: Runtime, body: dict) -> ModelCard:
    name = body.get("model")
    if not isinstance(name, str) or not name:
        raise APIError(400, "model is required")
    card = runtime.find(name)
    if "embedding" not in card.capabilities:
        raise unsupported(card, "embeddings")
    return card


def _normalized(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


async def _embed(runtime: Runtime, card: ModelCard, request: Request, texts: list[str], truncate: bool):
    async with runtime.use(card, request.cancel) as (embedder, load_ns):
        result = await asyncio.to_thread(embedder.embed, texts, truncate)
    return result, load_ns


async def embed(runtime: Runtime, request: Request) -> Response:
    started = time.perf_counter_ns()
    body = request.json()
    card = _embedding_model(runtime, body)
    texts = body.get("input")
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
        raise APIError(400, "invalid input type")
    if not texts:
        return json_response({"model": card.name, "embeddings": []})
    dimensions = body.get("dimensions") or 0
    if not isinstance(dimensions, int) or dimensions < 0:
        raise APIError(400, "dimensions must be a positive integer")
    result, load_ns = await _embed(runtime, card, request, texts, body.get("truncate", True) is not False)
    vectors = _normalized(result.vectors)
    if 0 < dimensions < vectors.shape[1]:
        vectors = _normalized(vectors[:, :dimensions])
    return json_response(
        {
            "model": card.name,
            "embeddings": vectors.tolist(),
            "total_duration": time.perf_counter_ns() - started,
            "load_duration": load_ns,
            "prompt_eval_count": result.token_count,
        }
    )


async def embeddings(runtime: Runtime, request: Request) -> Response:
    """Legacy endpoint: one prompt, one vector, not normalized."""
    body = request.json()
    card = _embedding_model(runtime, body)
    prompt = body.get("prompt") or ""
    if not isinstance(prompt, str):
        raise APIError(400, "invalid input type")
    if not prompt:
        return json_response({"embedding": []})
    result, _ = await _embed(runtime, card, request, [prompt], truncate=True)
    return json_response({"embedding": result.vectors[0].tolist()})
