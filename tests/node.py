"""Node.js for the tests: a folder's pinned npm packages installed once, and its scripts run."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.processes import local_env


def node_with_packages(folder: Path, skipped: str) -> str:
    """node, with `folder`'s pinned node_modules installed (once; later runs reuse them). Without node or npm
    the test is skipped, loudly: `skipped` says what did not run."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip(f"{skipped}: node ({node or 'missing'}) and npm ({npm or 'missing'}) are required")
    wanted = json.loads((folder / "package.json").read_text())["dependencies"]
    modules = folder / "node_modules"
    stale = [
        name
        for name, version in wanted.items()
        if not (modules / name / "package.json").exists()
        or json.loads((modules / name / "package.json").read_text())["version"] != version
    ]
    if stale:
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=300,
            env=local_env(),
        )
        assert result.returncode == 0, f"npm ci failed:\n{result.stdout}\n{result.stderr}"
    return node


def run_script(node: str, script: Path, **env) -> dict:
    """Runs a script that prints one JSON document, with `env` added to the environment; that document."""
    result = subprocess.run(
        [node, script.name], cwd=script.parent, capture_output=True, text=True, timeout=60, env=local_env(**env)
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
