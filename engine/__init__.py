"""ollamaweb engine: Ollama's native API served by llama.cpp over small packaged models.

Optional: it needs the packages in engine/requirements.txt (see engine/README.md).
"""

import os

# The Ollama version whose native API this engine speaks (the gateway parses it).
OLLAMA_VERSION = "0.33.0"

# llama.cpp's OpenMP threads spin while they wait. Next to the event loop thread and
# other processes on a small machine, that spinning slowed generation 20-fold (measured
# on 2 cores: ~2 instead of ~40 tokens/s). libgomp reads this when llama_cpp loads it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
