"""A sentence-transformers encoder run with onnxruntime: mean pooling over tokens."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnxruntime
from tokenizers import Tokenizer

from engine.models import OnnxEmbeddingSource
from engine.protocol import APIError


@dataclass(frozen=True)
class Embeddings:
    vectors: np.ndarray  # (inputs, dims), mean-pooled, not normalized
    token_count: int


class Embedder:
    BATCH = 32

    def __init__(self, source: OnnxEmbeddingSource, threads: int):
        self._tokenizer = Tokenizer.from_file(str(source.tokenizer))
        self._tokenizer.enable_truncation(max_length=source.max_tokens)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest input
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(str(source.model), options, providers=["CPUExecutionProvider"])

    def embed(self, texts: list[str], truncate: bool) -> Embeddings:
        batches = [self._embed_batch(texts[i : i + self.BATCH], truncate) for i in range(0, len(texts), self.BATCH)]
        return Embeddings(
            vectors=np.concatenate([vectors for vectors, _ in batches]),
            token_count=sum(count for _, count in batches),
        )

    def _embed_batch(self, texts: list[str], truncate: bool) -> tuple[np.ndarray, int]:
        encodings = self._tokenizer.encode_batch(texts)
        if not truncate and any(encoding.overflowing for encoding in encodings):
            raise APIError(400, "the input length exceeds the context length")
        ids = np.array([encoding.ids for encoding in encodings], dtype=np.int64)
        mask = np.array([encoding.attention_mask for encoding in encodings], dtype=np.int64)
        (hidden,) = self._session.run(
            ["last_hidden_state"],
            {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
        )
        weights = mask[:, :, None].astype(hidden.dtype)
        vectors = (hidden * weights).sum(axis=1) / weights.sum(axis=1)
        return vectors, int(mask.sum())
