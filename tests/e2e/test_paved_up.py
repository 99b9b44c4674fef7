"""End to end: `paved up` in a temporary home on free ports, the demo request run through
its deployment and the worker, then checked in the fake GitHub, the registry and Prefect.

This is the path a developer takes with `make up`; it runs the real CLI in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.stack.conftest import free_ports

pytestmark = pytest.mark.e2e

PROJECT_DIR = Path(__file__).resolve().parents[2]
PAVED = str(Path(sys.executable).parent / "paved")


@pytest.fixture(scope="module")
def stack_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    home = tmp_path_factory.mktemp("e2e") / ".paved"
    prefect, github, aws, kafka = free_ports(4)
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PAVED_", "PREFECT_"))
    }
    env.update(
        PAVED_HOME=str(home),
        PAVED_PROJECT_DIR=str(PROJECT_DIR),
        PAVED_PREFECT_PORT=str(prefect),
        PAVED_GITHUB_PORT=str(github),
        PAVED_AWS_PORT=str(aws),
        PAVED_KAFKA_PORT=str(kafka),
    )
    yield env
    subprocess.run([PAVED, "down"], env=env, cwd=PROJECT_DIR, timeout=120, check=False)


def paved(
    env: dict[str, str], *args: str, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PAVED, *args], env=env, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=timeout
    )


def test_paved_up_runs_the_demo_through_the_deployment(stack_env: dict[str, str]) -> None:
    up = paved(stack_env, "up")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "Completed" in up.stdout
    assert "/runs/flow-run/" in up.stdout
    assert "paved who-owns acme/hello" in up.stdout

    status = paved(stack_env, "status", "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    components = json.loads(status.stdout)["components"]
    assert set(components) >= {"prefect", "worker", "github", "aws", "kafka", "registry"}
    assert all(component["healthy"] for component in components.values()), components
    prefect_api = components["prefect"]["url"]
    assert prefect_api.endswith("/api") and components["prefect"]["ui_url"]
    assert components["kafka"]["url"] == f"127.0.0.1:{stack_env['PAVED_KAFKA_PORT']}"
    assert components["registry"]["url"].startswith("sqlite:///")

    github = components["github"]["url"]
    state = httpx.get(f"{github}/_fake/state").json()
    hello = next(repo for repo in state["repositories"] if repo["full_name"] == "acme/hello")
    assert "CODEOWNERS" in hello["files"]

    owner = paved(stack_env, "who-owns", "acme/hello", "--json")
    assert owner.returncode == 0, owner.stdout + owner.stderr
    ownership = json.loads(owner.stdout)
    assert (ownership["service"], ownership["owner"], ownership["team"]) == (
        "hello",
        "alice",
        "platform",
    )

    runs = httpx.post(
        f"{prefect_api}/flow_runs/filter",
        json={
            "flow_runs": {
                "tags": {
                    "all_": [
                        "action:github:repo:create",
                        "team:platform",
                        "service:hello",
                        "requester:alice",
                    ]
                }
            }
        },
    ).json()
    assert runs, "the demo flow run is found in Prefect by its tags"
    assert {run["state"]["type"] for run in runs} == {"COMPLETED"}
    assert all(run["deployment_id"] for run in runs), "it ran through the deployment"

    ran = paved(
        stack_env,
        "run",
        "github:repo:create",
        "--param",
        "name=ledger",
        "--param",
        "team=payments",
        "--param",
        "owner=carol",
        "--param",
        "requester=dave",
        "--wait",
        "--json",
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    outcome = json.loads(ran.stdout)
    assert outcome["state"] == "Completed" and "/runs/flow-run/" in outcome["url"]
    ledger = paved(stack_env, "who-owns", "acme/ledger", "--json")
    assert json.loads(ledger.stdout)["owner"] == "carol"

    again = paved(stack_env, "up")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Completed" in again.stdout

    down = paved(stack_env, "down")
    assert down.returncode == 0, down.stdout + down.stderr
    after = paved(stack_env, "status", "--json")
    assert after.returncode == 1
    stopped = json.loads(after.stdout)["components"]
    assert not any(
        stopped[name]["healthy"] for name in ("prefect", "worker", "github", "aws", "kafka")
    )
