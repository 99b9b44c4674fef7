"""The stack as a whole: ports, stale PID files, the worker's health, the registry, status."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from paved.processes import pid_file_path
from paved.settings import Settings
from paved.stack import (
    COMPONENTS,
    SCALE_ONLY,
    WORKER_NAME,
    ComponentFailed,
    PortInUse,
    managed_processes,
    stack_status,
    start_stack,
    stop_stack,
)

STATUS_ORDER = ["gateway", "prefect", "worker", "github", "aws", "kafka", "notify", "registry"]


@pytest.mark.parametrize(
    ("component", "setting"),
    [
        ("prefect", "PAVED_PREFECT_PORT"),
        ("gateway", "PAVED_GATEWAY_PORT"),
        ("github", "PAVED_GITHUB_PORT"),
        ("aws", "PAVED_AWS_PORT"),
        ("kafka", "PAVED_KAFKA_PORT"),
        ("notify", "PAVED_NOTIFY_PORT"),
    ],
)
def test_a_taken_port_fails_at_once(settings: Settings, component: str, setting: str) -> None:
    port = getattr(settings, f"{component}_port")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        began = time.monotonic()

        with pytest.raises(PortInUse) as failure:
            start_stack(settings, components=[component])

    assert time.monotonic() - began < 2
    assert str(failure.value) == (
        f"port {port} for {component} is already in use by another process; "
        f"set {setting} to a free port"
    )
    assert not pid_file_path(settings.pids_dir, component).exists()


def test_stale_pid_files_are_reported_and_replaced(settings: Settings) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    settings.pids_dir.mkdir(parents=True)
    pid_file_path(settings.pids_dir, "kafka").write_text(f"{dead.pid}\n")
    pid_file_path(settings.pids_dir, "aws").write_text(f"{os.getpid()}\n")

    before = stack_status(settings).components
    assert before["kafka"].pid is None and not before["kafka"].healthy
    assert before["kafka"].detail == f"not running (stale PID file: process {dead.pid} has exited)"
    assert before["aws"].pid is None and not before["aws"].healthy
    assert "now belongs to another program" in (before["aws"].detail or "")

    after = start_stack(settings, components=["kafka", "aws"]).components

    assert after["kafka"].healthy and after["kafka"].pid not in (None, dead.pid)
    assert after["aws"].healthy and after["aws"].pid not in (None, os.getpid())


def test_the_worker_waits_for_prefect(settings: Settings) -> None:
    with pytest.raises(ComponentFailed, match="needs the Prefect API"):
        start_stack(settings, components=["worker"])


def test_unknown_components_are_refused(settings: Settings) -> None:
    # Was "postgres", unknown until issue 10 made it the cluster of the postgres mode.
    with pytest.raises(ValueError, match="unknown components"):
        start_stack(settings, components=["mysql"])


def test_postgres_is_no_component_of_the_sqlite_mode(settings: Settings) -> None:
    with pytest.raises(ValueError, match="postgres database mode only"):
        start_stack(settings, components=["postgres"])


def test_start_migrates_the_registry(settings: Settings) -> None:
    before = stack_status(settings).components["registry"]
    assert not before.healthy
    assert "does not exist" in (before.detail or "")

    after = start_stack(settings, components=["registry"]).components["registry"]
    again = start_stack(settings, components=["registry"]).components["registry"]

    assert after.healthy and again.healthy
    assert after.url == settings.registry_url
    assert (settings.home / "registry.db").is_file()


# --- the worker's health: online in Prefect, heartbeat from this very process ------------


class _FakePrefectApi(ThreadingHTTPServer):
    """Answers the workers filter with `workers` and `status_code`, set by the test."""

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, _Handler)
        self.status_code = 200
        self.workers: list[dict[str, Any]] = []


class _Handler(BaseHTTPRequestHandler):
    server: _FakePrefectApi

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps(self.server.workers).encode()
        self.send_response(self.server.status_code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def prefect_api(settings: Settings) -> Iterator[_FakePrefectApi]:
    server = _FakePrefectApi((settings.host, settings.prefect_port))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _worker(status: str, heartbeat: datetime) -> dict[str, Any]:
    return {"name": WORKER_NAME, "status": status, "last_heartbeat_time": heartbeat.isoformat()}


def test_worker_health_needs_a_heartbeat_from_this_process(
    settings: Settings, prefect_api: _FakePrefectApi
) -> None:
    health = managed_processes(settings)["worker"].spec.health
    assert health().detail == "no PID file"

    settings.pids_dir.mkdir(parents=True)
    pid_file_path(settings.pids_dir, "worker").write_text("12345\n")
    now = datetime.now(UTC)

    prefect_api.workers = [_worker("ONLINE", now - timedelta(seconds=30))]
    assert health().detail == "no heartbeat from this worker process yet"

    prefect_api.workers = [_worker("ONLINE", now + timedelta(seconds=1))]
    assert health().healthy

    prefect_api.workers = [_worker("OFFLINE", now + timedelta(seconds=1))]
    assert health().detail == "Prefect reports the worker OFFLINE"

    prefect_api.workers = [{**_worker("ONLINE", now), "name": "someone-else"}]
    assert "no worker 'paved-local-worker' registered" in (health().detail or "")

    prefect_api.status_code = 404
    assert health().detail == "work pool 'paved-local' does not exist yet"


# --- status ------------------------------------------------------------------------------


def test_status_of_a_stopped_stack(settings: Settings) -> None:
    status = stack_status(settings)

    dumped = status.model_dump()
    assert list(dumped) == ["components", "home", "database", "topology"]
    assert dumped["home"] == str(settings.home)
    assert dumped["database"] == "sqlite" and dumped["topology"] == "single"
    assert list(dumped["components"]) == STATUS_ORDER
    # The SQLite stack (the default) runs no PostgreSQL (issue 10's postgres mode does),
    # nor the scale topology's extra processes (issue 11).
    assert set(COMPONENTS) == {*STATUS_ORDER, "postgres", *SCALE_ONLY}
    for name, component in dumped["components"].items():
        assert component["name"] == name
        assert component["healthy"] is False
        assert component["pid"] is None
        assert component["detail"]
    urls = {name: component["url"] for name, component in dumped["components"].items()}
    assert urls == {
        "gateway": settings.gateway_url,
        "prefect": settings.prefect_api_url,
        "worker": None,
        "github": settings.github_url,
        "aws": settings.aws_endpoint_url,
        "kafka": settings.kafka_bootstrap,
        "notify": settings.notify_url,
        "registry": settings.registry_url,
    }
    assert dumped["components"]["prefect"]["ui_url"] == settings.prefect_ui_url
    assert not status.healthy
    assert stop_stack(settings) == []
    assert not Path(settings.home).exists()  # looking changes nothing
