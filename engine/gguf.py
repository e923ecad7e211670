"""Read a GGUF file's header (metadata and tensor shapes) without loading weights.

/api/tags and /api/show describe models that are not loaded yet, so the engine
reads what it needs straight from the header. The header may span several files
when a package ships a model split into chunks.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from math import prod
from pathlib import Path
from typing import BinaryIO

# Arrays longer than this (the tokenizer's vocabulary, merges...) are not kept:
# /api/show reports them as null, as Ollama does when not verbose.
MAX_KEPT_ARRAY = 64

_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9

# llama.cpp's `llama_ftype` values, as Ollama names them in `quantization_level`.
FILE_TYPES = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
    36: "TQ1_0",
    37: "TQ2_0",
    38: "MXFP4",
}


@dataclass(frozen=True)
class GGUFHeader:
    metadata: dict[str, object]
    parameter_count: int


class _ChainedReader:
    """Reads several files as one byte stream (a model split into chunks)."""

    def __init__(self, paths: list[Path]):
        self._paths = list(paths)
        self._file: BinaryIO | None = None

    def read(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            if self._file is None:
                if not self._paths:
                    raise ValueError("truncated GGUF header")
                self._file = open(self._paths.pop(0), "rb")
            chunk = self._file.read(size - len(data))
            if not chunk:
                self._file.close()
                self._file = None
            data += chunk
        return data

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def _unpack(reader: _ChainedReader, fmt: str):
    return struct.unpack(fmt, reader.read(struct.calcsize(fmt)))[0]


def _read_string(reader: _ChainedReader) -> str:
    return reader.read(_unpack(reader, "<Q")).decode("utf-8", errors="replace")


def _read_value(reader: _ChainedReader, value_type: int):
    if value_type in _SCALARS:
        return _unpack(reader, _SCALARS[value_type])
    if value_type == _STRING:
        return _read_string(reader)
    if value_type == _ARRAY:
        item_type, count = _unpack(reader, "<I"), _unpack(reader, "<Q")
        items = [_read_value(reader, item_type) for _ in range(count)]
        return items if count <= MAX_KEPT_ARRAY else None
    raise ValueError(f"unknown GGUF value type {value_type}")


def read_header(paths: list[Path]) -> GGUFHeader:
    """Parse the key/value metadata and count parameters from tensor shapes."""
    reader = _ChainedReader(paths)
    try:
        if reader.read(4) != b"GGUF":
            raise ValueError(f"{paths[0]} is not a GGUF file")
        _unpack(reader, "<I")  # format version
        tensor_count, kv_count = _unpack(reader, "<Q"), _unpack(reader, "<Q")
        metadata = {}
        for _ in range(kv_count):
            key = _read_string(reader)
            metadata[key] = _read_value(reader, _unpack(reader, "<I"))
        parameter_count = 0
        for _ in range(tensor_count):
            _read_string(reader)  # tensor name
            n_dims = _unpack(reader, "<I")
            parameter_count += prod(struct.unpack(f"<{n_dims}Q", reader.read(8 * n_dims)))
            reader.read(4 + 8)  # tensor type and data offset
        return GGUFHeader(metadata=metadata, parameter_count=parameter_count)
    finally:
        reader.close()
