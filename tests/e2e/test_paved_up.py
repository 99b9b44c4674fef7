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
from typing import Any

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


POLICY_TAGS = {
    "paved:service": "orders",
    "paved:team": "payments",
    "paved:owner": "carol",
    "paved:cost-center": "cc-200",
    "paved:managed-by": "paved",
}


def seen_by_the_providers(components: dict[str, Any]) -> None:
    """What service:create made, as each provider's own client sees it."""
    import boto3
    from confluent_kafka.admin import AdminClient

    aws = {
        "endpoint_url": components["aws"]["url"],
        "region_name": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    ecr = boto3.client("ecr", **aws)
    repository = ecr.describe_repositories(repositoryNames=["payments-orders-app"])
    arn = repository["repositories"][0]["repositoryArn"]
    tags = {t["Key"]: t["Value"] for t in ecr.list_tags_for_resource(resourceArn=arn)["tags"]}
    assert tags == POLICY_TAGS
    service = boto3.client("ecs", **aws).describe_services(
        cluster="paved-shared", services=["payments-orders-app"], include=["TAGS"]
    )["services"][0]
    assert {t["key"]: t["value"] for t in service["tags"]} == POLICY_TAGS
    role_tags = boto3.client("iam", **aws).list_role_tags(RoleName="payments-orders-deploy")
    assert {t["Key"]: t["Value"] for t in role_tags["Tags"]} == POLICY_TAGS
    admin = AdminClient(
        {"bootstrap.servers": components["kafka"]["url"], "allow.auto.create.topics": False}
    )
    topics = admin.list_topics(timeout=10).topics
    assert {"payments.orders.state", "payments.orders.events"} <= set(topics)
    state = httpx.get(f"{components['github']['url']}/_fake/state").json()
    repo = next(r for r in state["repositories"] if r["full_name"] == "acme/orders")
    assert set(repo["topics"]) >= {"paved", "payments"}
    assert repo["team_permissions"] == {"payments": "maintain"}


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
        "service:create",
        "--param",
        "name=orders",
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
    assert outcome["name"] == "create-service/payments/orders"
    seen_by_the_providers(components)
    orders = paved(stack_env, "who-owns", "payments.orders.events", "--json")
    assert json.loads(orders.stdout)["owner"] == "carol"

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
