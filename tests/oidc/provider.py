"""Runs tests/oidc/provider.mjs (node-oidc-provider, a real OpenID Connect provider) for the tests."""

import json
import os
import subprocess
import tempfile
from pathlib import Path

from tests.node import node_with_packages
from tests.processes import local_env

HERE = Path(__file__).resolve().parent


def install() -> str:
    """node, with tests/oidc's pinned node_modules installed (once); skips loudly without node/npm."""
    return node_with_packages(HERE, "!!! SINGLE SIGN-ON TESTS SKIPPED")


class Provider:
    def __init__(self, node: str, config: dict):
        self.config_file = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
        json.dump(config, self.config_file)
        self.config_file.close()
        self.process = subprocess.Popen(
            [node, str(HERE / "provider.mjs"), self.config_file.name],
            cwd=HERE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=local_env(),
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
