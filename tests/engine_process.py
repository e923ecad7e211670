"""Starting the embedded engine (engine/) in a subprocess for real-model tests."""

import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parent.parent
INSTALL_HINT = "engine dependencies not installed (bash engine/install.sh .venv/bin/python)"


def require_engine_packages():
    """Skip the calling test module unless the engine's packages are installed; the llama_cpp module."""
    llama_cpp = pytest.importorskip("llama_cpp", reason=INSTALL_HINT)
    pytest.importorskip("onnxruntime", reason=INSTALL_HINT)
    return llama_cpp


def chatml(*turns) -> str:
    """The prompt a ChatML model (smollm2) is given for these (role, content) turns."""
    text = "".join(f"<|im_start|>{role}\n{content}<|im_end|>\n" for role, content in turns)
    return text + "<|im_start|>assistant\n"


def prompt_tokens(model: str, prompt: str) -> int:
    """How many tokens the engine counts for `prompt` with `model`'s own tokenizer."""
    import llama_cpp

    from engine.models import discover

    vocab = llama_cpp.Llama(model_path=str(discover(models_dir="")[model].files[0]), vocab_only=True, verbose=False)
    return len(vocab.tokenize(prompt.encode(), add_bos=True, special=True))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_engine(log_dir: Path):
    """The engine on a free loopback port; yields its base URL."""
    port = free_port()
    log_path = log_dir / "engine.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "engine", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{url}/api/version", timeout=1).raise_for_status()
            break
        except httpx.HTTPError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"engine did not start:\n{log_path.read_text()}")
            time.sleep(0.2)
    try:
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
