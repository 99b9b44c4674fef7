"""`paved run --wait` reads the run through the gateway (httpx, not Prefect's client)
until it is final or the timeout passes. Against the gateway tests' real servers: Prefect
with no worker, so a run stays Scheduled unless this test moves it on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# The gateway tests' servers (Prefect, fake GitHub, registry, gateway), started for this
# module's session as for theirs.
from tests.gateway.conftest import (  # noqa: F401
    GATEWAY_GROUP,
    REQUEST_SCHEMA,
    Gateway,
    PrefectServer,
    gateway,
    github,
    github_identity,
    prefect_server,
    registry_url,
)

pytestmark = GATEWAY_GROUP

PAVED = str(Path(sys.executable).parent / "paved")
PROJECT_DIR = Path(__file__).resolve().parents[2]
SERVICE = ["-p", "name=orders", "-p", "team=payments", "-p", "owner=dave"]


@pytest.fixture(scope="module")
def service_create(prefect_server: PrefectServer) -> str:  # noqa: F811
    """The deployment `paved run service:create` looks up by name."""
    with prefect_server.client() as prefect:
        flow = prefect.post("/flows/", json={"name": "service-create"})
        flow.raise_for_status()
        created = prefect.post(
            "/deployments/",
            json={
                "name": "service:create",
                "flow_id": flow.json()["id"],
                "parameter_openapi_schema": REQUEST_SCHEMA,
            },
        )
        created.raise_for_status()
    deployment_id: str = created.json()["id"]
    return deployment_id


def _paved(gateway: Gateway, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:  # noqa: F811
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PAVED_", "PREFECT_", "GITHUB_TOKEN"))
    }
    env.update(
        PAVED_HOME=str(tmp_path / "home"),
        PAVED_HOST="127.0.0.1",
        PAVED_GATEWAY_PORT=gateway.url.rsplit(":", 1)[1],
        PAVED_TOKEN=gateway.token("dave"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
    )
    return subprocess.run(
        [PAVED, *args], env=env, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def completer(prefect_server: PrefectServer, service_create: str) -> Iterator[None]:  # noqa: F811
    """Sets every new run of service:create Completed, as a worker would once it ran."""
    done = threading.Event()

    def complete() -> None:
        with prefect_server.client() as prefect:
            while not done.is_set():
                runs = prefect.post(
                    "/flow_runs/filter",
                    json={"flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}}},
                ).json()
                for run in runs:
                    if run["deployment_id"] == service_create:
                        prefect.post(
                            f"/flow_runs/{run['id']}/set_state",
                            json={
                                "state": {"type": "COMPLETED", "name": "Completed"},
                                "force": True,
                            },
                        )
                time.sleep(0.1)

    thread = threading.Thread(target=complete, daemon=True)
    thread.start()
    yield
    done.set()
    thread.join(timeout=10)


def test_wait_ends_when_the_run_completes(
    gateway: Gateway,  # noqa: F811
    completer: None,
    tmp_path: Path,
) -> None:
    ran = _paved(gateway, tmp_path, "run", "service:create", *SERVICE, "--wait", "--json")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert json.loads(ran.stdout)["state"] == "Completed"


def test_wait_gives_up_after_its_timeout(
    gateway: Gateway,  # noqa: F811
    service_create: str,
    tmp_path: Path,
) -> None:
    ran = _paved(gateway, tmp_path, "run", "service:create", *SERVICE, "--wait", "--timeout", "0.5")
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "service:create" in ran.stdout and ": Scheduled" in ran.stdout
    assert f"{gateway.url}/runs/flow-run/" in ran.stdout


def test_a_missing_deployment_is_a_refusal(gateway: Gateway, tmp_path: Path) -> None:  # noqa: F811
    # No deployment github-repo-create/github:repo:create on this server: Prefect's 404.
    ran = _paved(
        gateway,
        tmp_path,
        "run",
        "github:repo:create",
        "-p",
        "name=orders",
        "-p",
        "team=payments",
        "-p",
        "owner=dave",
    )
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "github:repo:create refused: Deployment not found" in ran.stderr
