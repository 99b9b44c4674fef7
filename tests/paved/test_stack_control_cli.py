"""`paved stop COMPONENT` and `paved start COMPONENT`: one component, the rest untouched.

Real processes on loopback ports (the stand-ins start in well under a second); Prefect
and the worker are left to the end-to-end test, which stops and starts its broker.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paved.cli import app
from paved.processes import process_alive
from paved.settings import Settings
from paved.stack import stop_stack
from tests.stack.conftest import free_ports, release_ports

runner = CliRunner()


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """A stack under a temporary home on free ports, set in the environment for the CLI;
    whatever the test started is stopped afterwards."""
    for name in list(os.environ):
        if name.startswith("PAVED_"):
            monkeypatch.delenv(name)
    names = ("PREFECT", "GITHUB", "AWS", "KAFKA", "NOTIFY", "GATEWAY")
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    monkeypatch.setenv("PAVED_HOME", str(tmp_path / "home"))
    for component, port in ports.items():
        monkeypatch.setenv(f"PAVED_{component}_PORT", str(port))
    current = Settings()
    try:
        yield current
    finally:
        stop_stack(current)
        release_ports(list(ports.values()))


def components() -> dict[str, dict[str, object]]:
    result = runner.invoke(app, ["status", "--json"])
    status: dict[str, dict[str, dict[str, object]]] = json.loads(result.stdout)
    return status["components"]


def test_stop_and_start_one_component(settings: Settings) -> None:
    started = runner.invoke(app, ["start", "kafka", "notify"])
    assert started.exit_code == 0, started.output
    assert "✓ kafka: started in" in started.output and "✓ notify: started in" in started.output
    before = components()
    assert before["kafka"]["healthy"] and before["notify"]["healthy"]
    assert not before["aws"]["healthy"], "components not named are not started"

    stopped = runner.invoke(app, ["stop", "kafka"])

    assert stopped.exit_code == 0, stopped.output
    assert "Stopped kafka." in stopped.output
    after = components()
    assert not after["kafka"]["healthy"] and after["kafka"]["pid"] is None
    assert after["notify"]["healthy"] and after["notify"]["pid"] == before["notify"]["pid"]
    kafka_pid = before["kafka"]["pid"]
    assert isinstance(kafka_pid, int) and not process_alive(kafka_pid)

    again = runner.invoke(app, ["stop", "kafka"])
    assert again.exit_code == 0 and "Not running: kafka." in again.output

    restarted = runner.invoke(app, ["start", "kafka", "notify"])
    assert restarted.exit_code == 0, restarted.output
    assert "✓ kafka: started in" in restarted.output
    assert "✓ notify: already running" in restarted.output
    assert components()["kafka"]["healthy"]


def test_unknown_components_are_refused(settings: Settings) -> None:
    for command in ("start", "stop"):
        result = runner.invoke(app, [command, "kafka", "zookeeper"])
        assert result.exit_code == 2
        assert "unknown component zookeeper" in result.output and "kafka" in result.output
    assert not components()["kafka"]["healthy"], "nothing started when one name is wrong"


def test_a_component_is_required(settings: Settings) -> None:
    assert runner.invoke(app, ["stop"]).exit_code == 2


def test_the_worker_needs_prefect(settings: Settings) -> None:
    result = runner.invoke(app, ["start", "worker"])
    assert result.exit_code == 1
    assert "it needs the Prefect API" in result.stderr
