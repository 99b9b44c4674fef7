"""Fixtures for the local-stack tests: a throwaway PAVED_HOME and loopback ports of our own.

These tests own ports 19000-19999; every process they start is stopped at teardown.
"""

from __future__ import annotations

import fcntl
import os
import random
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from paved.settings import Settings
from paved.stack import stop_stack

PORT_RANGE = range(19000, 20000)

# The OS never hands out ports of PORT_RANGE (below Linux's ephemeral range), so the only
# other takers are the suite's own processes: xdist workers each drawing ports at random.
# A port checked free by two workers at once was given to both (a CI run failed so), so
# each port is also reserved with a lock file that the kernel releases when its holder
# exits, however it exits.
_RESERVATIONS = Path(tempfile.gettempdir()) / "paved-test-ports"
_held: dict[int, int] = {}


def _reserve(port: int) -> bool:
    _RESERVATIONS.mkdir(exist_ok=True)
    fd = os.open(_RESERVATIONS / f"{port}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False
    _held[port] = fd
    return True


def release_ports(ports: list[int]) -> None:
    """Give ports from `free_ports` back once nothing of the test listens on them."""
    for port in ports:
        fd = _held.pop(port, None)
        if fd is not None:
            os.close(fd)


def free_ports(count: int) -> list[int]:
    """`count` distinct ports in PORT_RANGE that nothing listens on right now and no other
    test process holds; they stay this process's until `release_ports` or its exit."""
    found: list[int] = []
    for port in random.sample(PORT_RANGE, len(PORT_RANGE)):
        if port in _held or not _reserve(port):
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                release_ports([port])
                continue
        found.append(port)
        if len(found) == count:
            return found
    release_ports(found)
    raise RuntimeError(f"fewer than {count} free ports in {PORT_RANGE}")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No PAVED_* variable from the outer environment leaks into Settings()."""
    for name in list(os.environ):
        if name.startswith("PAVED_"):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.fixture
def settings(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings for a stack under a temporary home, on free ports, also set in the
    environment (for the CLI); whatever the test started is stopped afterwards."""
    prefect, github, aws, kafka, notify, gateway, postgres = free_ports(7)
    values = {
        "PAVED_HOME": str(tmp_path / "home"),
        "PAVED_PREFECT_PORT": str(prefect),
        "PAVED_GATEWAY_PORT": str(gateway),
        "PAVED_GITHUB_PORT": str(github),
        "PAVED_AWS_PORT": str(aws),
        "PAVED_KAFKA_PORT": str(kafka),
        "PAVED_NOTIFY_PORT": str(notify),
        "PAVED_POSTGRES_PORT": str(postgres),
    }
    for name, value in values.items():
        clean_env.setenv(name, value)
    current = Settings()
    try:
        yield current
    finally:
        stop_stack(current)
        release_ports([prefect, github, aws, kafka, notify, gateway, postgres])
