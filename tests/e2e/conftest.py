"""One local stack for the end-to-end tests: `paved up` in a temporary home, on free ports.

Session-scoped and in one xdist group (`make test` runs `--dist loadgroup`), so every e2e
module runs on the same worker against the same stack (~1 min to start); `paved down` at
the end. People act through the gateway with their sandbox tokens, as they would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.stack.conftest import free_ports

PROJECT_DIR = Path(__file__).resolve().parents[2]
PAVED = str(Path(sys.executable).parent / "paved")
STACK_GROUP = pytest.mark.xdist_group("paved-stack")


@dataclass
class Stack:
    """A running local stack, and how to act on it as someone."""

    env: dict[str, str]
    up: subprocess.CompletedProcess[str]
    components: dict[str, Any]
    _tokens: dict[str, str] = field(default_factory=dict)

    @property
    def gateway_url(self) -> str:
        return str(self.components["gateway"]["url"])

    @property
    def api_url(self) -> str:
        return str(self.components["gateway"]["api_url"])

    @property
    def registry_url(self) -> str:
        return f"sqlite:///{Path(self.env['PAVED_HOME']) / 'registry.db'}"

    def paved(
        self, *args: str, as_: str | None = None, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        """Run the `paved` CLI, signed in as `as_` (their sandbox token) if given."""
        env = dict(self.env)
        if as_ is not None:
            env["PAVED_TOKEN"] = self.token(as_)
        return subprocess.run(
            [PAVED, *args],
            env=env,
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def token(self, handle: str) -> str:
        """`handle`'s GitHub token in the sandbox (`paved sandbox token`)."""
        if handle not in self._tokens:
            printed = self.paved("sandbox", "token", handle, timeout=30)
            assert printed.returncode == 0, printed.stdout + printed.stderr
            self._tokens[handle] = printed.stdout.strip()
        return self._tokens[handle]

    def api(self, handle: str | None) -> httpx.Client:
        """An HTTP client of the gateway's API, as `handle` (or with no credential)."""
        headers = {"Authorization": f"Bearer {self.token(handle)}"} if handle else {}
        return httpx.Client(base_url=self.api_url, headers=headers, timeout=60, trust_env=False)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("e2e") / ".paved"
    gateway, prefect, github, aws, kafka, notify = free_ports(6)
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PAVED_", "PREFECT_", "GITHUB_TOKEN"))
    }
    env.update(
        PAVED_HOME=str(home),
        PAVED_PROJECT_DIR=str(PROJECT_DIR),
        PAVED_GATEWAY_PORT=str(gateway),
        PAVED_PREFECT_PORT=str(prefect),
        PAVED_GITHUB_PORT=str(github),
        PAVED_AWS_PORT=str(aws),
        PAVED_KAFKA_PORT=str(kafka),
        PAVED_NOTIFY_PORT=str(notify),
        # `paved login` writes here, not in the developer's ~/.config.
        XDG_CONFIG_HOME=str(home.parent / "config"),
    )
    up = subprocess.run(
        [PAVED, "up"], env=env, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=600
    )
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        status = subprocess.run(
            [PAVED, "status", "--json"], env=env, cwd=PROJECT_DIR, capture_output=True, text=True
        )
        assert status.returncode == 0, status.stdout + status.stderr
        yield Stack(env=env, up=up, components=json.loads(status.stdout)["components"])
    finally:
        subprocess.run([PAVED, "down"], env=env, cwd=PROJECT_DIR, timeout=120, check=False)
