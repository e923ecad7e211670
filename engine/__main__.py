"""Serve Ollama's native API over the installed models: `python -m engine [--host H] [--port P]`."""

from __future__ import annotations

import argparse
import logging
import os

import uvicorn

from engine.app import EngineApp
from engine.models import MODELS_DIR_ENV, discover
from engine.runtime import Runtime


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m engine", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="CPU threads per model")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="engine: %(message)s")
    catalog = discover()
    if not catalog:
        parser.error(f"no models found: install engine/requirements.txt or set {MODELS_DIR_ENV}")
    print(f"ollamaweb engine serving {', '.join(catalog)} on http://{args.host}:{args.port}", flush=True)
    uvicorn.run(
        EngineApp(Runtime(catalog, args.threads)),
        host=args.host,
        port=args.port,
        lifespan="off",
        log_level="warning",
    )


if __name__ == "__main__":
    main()
