"""Runs tests/oidc/provider.mjs (node-oidc-provider, a real OpenID Connect provider) for the tests."""

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def install() -> str:
    """node, with tests/oidc's pinned node_modules installed (once); skips loudly without node/npm."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip(f"!!! SINGLE SIGN-ON TESTS SKIPPED: node ({node}) and npm ({npm}) are required")
    wanted = json.loads((HERE / "package.json").read_text())["dependencies"]["oidc-provider"]
    installed = HERE / "node_modules" / "oidc-provider" / "package.json"
    if not installed.exists() or json.loads(installed.read_text())["version"] != wanted:
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, f"npm ci failed:\n{result.stdout}\n{result.stderr}"
    return node


class Provider:
    def __init__(self, node: str, config: dict):
        self.config_file = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
        json.dump(config, self.config_file)
        self.config_file.close()
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        self.process = subprocess.Popen(
            [node, str(HERE / "provider.mjs"), self.config_file.name],
            cwd=HERE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the OpenID provider did not start: {self.process.stderr.read()}")
        self.issuer = json.loads(line)["issuer"]

    def update_accounts(self, accounts: dict):
        """New claims for the accounts, seen at their next sign-in."""
        with open(self.config_file.name) as file:
            config = json.load(file)
        with open(self.config_file.name, "w") as file:
            json.dump({**config, "accounts": accounts}, file)

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        os.unlink(self.config_file.name)
