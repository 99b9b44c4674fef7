"""`paved run` goes through the gateway with the signed-in person's token: the run is
theirs, and the gateway's refusals reach the terminal. A subprocess, as people run it:
`paved run` points the process's Prefect client at the gateway."""

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

from tests.gateway.conftest import GATEWAY_GROUP, REQUEST_SCHEMA, Gateway, PrefectServer

pytestmark = GATEWAY_GROUP

PAVED = str(Path(sys.executable).parent / "paved")
PROJECT_DIR = Path(__file__).resolve().parents[2]
SERVICE = ["-p", "name=orders", "-p", "team=payments", "-p", "owner=dave"]


@pytest.fixture(scope="module")
def service_create(prefect_server: PrefectServer) -> str:
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


def _paved(
    gateway: Gateway, tmp_path: Path, handle: str, *args: str
) -> subprocess.CompletedProcess[str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PAVED_", "PREFECT_", "GITHUB_TOKEN"))
    }
    env.update(
        PAVED_HOME=str(tmp_path / "home"),
        PAVED_HOST="127.0.0.1",
        PAVED_GATEWAY_PORT=gateway.url.rsplit(":", 1)[1],
        PAVED_TOKEN=gateway.token(handle),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
    )
    return subprocess.run(
        [PAVED, *args], env=env, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120
    )


def test_paved_run_runs_as_the_signed_in_person(
    gateway: Gateway, prefect_server: PrefectServer, service_create: str, tmp_path: Path
) -> None:
    ran = _paved(gateway, tmp_path, "dave", "run", "service:create", *SERVICE, "--json")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    outcome = json.loads(ran.stdout)
    assert outcome["url"].startswith(f"{gateway.url}/runs/flow-run/")
    with prefect_server.client() as prefect:
        run = prefect.get(f"/flow_runs/{outcome['flow_run_id']}").json()
    assert run["deployment_id"] == service_create
    assert run["parameters"]["request"]["requester"] == "dave"
    assert "requester:dave" in run["tags"]


def test_paved_run_shows_the_gateways_refusal(
    gateway: Gateway, service_create: str, tmp_path: Path
) -> None:
    as_carol = _paved(
        gateway, tmp_path, "dave", "run", "service:create", *SERVICE, "-p", "requester=carol"
    )
    not_her_team = _paved(gateway, tmp_path, "erin", "run", "service:create", *SERVICE)
    assert as_carol.returncode == 1
    assert "service:create refused: you are dave; a request as carol is refused" in as_carol.stderr
    assert not_her_team.returncode == 1
    assert "you are erin, not a member of team payments" in not_her_team.stderr


# --- `paved run --wait` reads the run through the gateway (httpx, not Prefect's client)
# until it is final or the timeout passes. No worker runs here: a run stays Scheduled
# unless the test moves it on.


@pytest.fixture
def completer(prefect_server: PrefectServer, service_create: str) -> Iterator[None]:
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
    gateway: Gateway,
    completer: None,
    tmp_path: Path,
) -> None:
    ran = _paved(gateway, tmp_path, "dave", "run", "service:create", *SERVICE, "--wait", "--json")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert json.loads(ran.stdout)["state"] == "Completed"


def test_wait_gives_up_after_its_timeout(
    gateway: Gateway,
    service_create: str,
    tmp_path: Path,
) -> None:
    ran = _paved(
        gateway, tmp_path, "dave", "run", "service:create", *SERVICE, "--wait", "--timeout", "0.5"
    )
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "service:create" in ran.stdout and ": Scheduled" in ran.stdout
    assert f"{gateway.url}/runs/flow-run/" in ran.stdout


def test_a_missing_deployment_is_a_refusal(gateway: Gateway, tmp_path: Path) -> None:
    # No deployment github-repo-create/github:repo:create on this server: Prefect's 404.
    ran = _paved(
        gateway,
        tmp_path,
        "dave",
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
