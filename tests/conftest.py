"""Settings every test process needs before Prefect is imported anywhere."""

from __future__ import annotations

import os
import socket
import tempfile

# Prefect reads its settings from the environment: point it at a throwaway home, keep it
# offline and quiet, and make the provider tasks' retry backoff short.
_home = tempfile.mkdtemp(prefix="paved-tests-prefect-")
os.environ.setdefault("PREFECT_HOME", _home)
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"
os.environ.setdefault("PAVED_RETRY_DELAY_SCALE", "0.05")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


pytest_plugins = ["tests.servers", "tests.flows.notify_helpers", "tests.fake_github_fixtures"]


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
