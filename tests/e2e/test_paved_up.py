"""End to end: `paved up` in a temporary home on free ports, the demo request run through
its deployment and the worker, then checked in the fake GitHub, the registry and Prefect;
then an owner changed while the broker is stopped, and its event delivered once it is back.

This is the path a developer takes with `make up`; it runs the real CLI in a subprocess.
One test, in steps, on one stack: `make test` spreads tests over xdist workers, and two
tests here could land on two workers and start a stack each (~1 min apiece).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.db import make_engine
from registry.models import OutboxEvent
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


def ownership_events(registry_url: str, service: str) -> list[OutboxEvent]:
    """The outbox's ownership events of `service`, oldest first."""
    engine = make_engine(registry_url)
    try:
        with Session(engine) as session:
            return list(
                session.scalars(
                    select(OutboxEvent)
                    .where(
                        OutboxEvent.service == service,
                        OutboxEvent.event_type == "service.ownership_changed",
                    )
                    .order_by(OutboxEvent.id)
                )
            )
    finally:
        engine.dispose()


# A consumer that receives nothing for this long has read the whole topic.
QUIET_SECONDS = 5


def registry_topic(bootstrap: str) -> list[dict[str, Any]]:
    """Every message on `paved.registry.v1`, read from the start until the topic is quiet.

    Not up to the partitions' high watermarks: Tansu 0.6 reports a high watermark that
    counts a produced batch once, however many records it holds (20 records sent in one
    batch read back in full, with a high watermark of 1), so reading up to it stops early.
    """
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    topic = "paved.registry.v1"
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "e2e-registry-events",
            "enable.auto.commit": False,
            "allow.auto.create.topics": False,
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        messages: list[dict[str, Any]] = []
        while (message := consumer.poll(QUIET_SECONDS)) is not None:
            assert message.error() is None, message.error()
            messages.append(json.loads(message.value() or b"{}"))
        return messages
    finally:
        consumer.close()


def owner_change_survives_a_broker_outage(env: dict[str, str], components: dict[str, Any]) -> None:
    """`service:transfer` with Kafka stopped completes and leaves its event in the outbox;
    with Kafka back, `registry:events:publish` delivers it, once per key and version."""
    registry_url = components["registry"]["url"]
    stopped = paved(env, "stop", "kafka")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert "Stopped kafka." in stopped.stdout

    transfer = paved(
        env,
        "run",
        "service:transfer",
        "--param",
        "service=orders",
        "--param",
        "new_owner=dave",
        "--param",
        "requester=carol",
        "--param",
        "reason=carol hands orders over to dave",
        "--wait",
        "--json",
    )
    assert transfer.returncode == 0, transfer.stdout + transfer.stderr
    assert json.loads(transfer.stdout)["state"] == "Completed"
    event = ownership_events(registry_url, "orders")[-1]
    assert event.payload["owner"] == "dave" and event.payload["previous"]["owner"] == "carol"
    assert event.published_at is None, "no broker: the event waits in the outbox"

    started = paved(env, "start", "kafka")
    assert started.returncode == 0, started.stdout + started.stderr
    # The publisher's deployment, through the worker (it also runs every minute: either
    # run may be the one that publishes; the deployment runs one at a time).
    prefect_env = {
        **env,
        "PREFECT_API_URL": components["prefect"]["url"],
        "PREFECT_HOME": str(Path(env["PAVED_HOME"]) / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
    published = subprocess.run(
        [
            str(Path(sys.executable).parent / "prefect"),
            "deployment",
            "run",
            "registry-events-publish/registry:events:publish",
            "--watch",
            "--watch-timeout",
            "300",
        ],
        env=prefect_env,
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=360,
    )
    assert published.returncode == 0, published.stdout + published.stderr
    assert all(e.published_at is not None for e in ownership_events(registry_url, "orders"))

    # The in-memory broker came back empty: what is on the topic was published since.
    orders = [m for m in registry_topic(components["kafka"]["url"]) if m["service"] == "orders"]
    seen = [(m["type"], m["version"], m["event_id"]) for m in orders]
    outbox = [(e.version, e.published_at) for e in ownership_events(registry_url, "orders")]
    assert [m["event_id"] for m in orders].count(event.event_id) == 1, (
        f"v{event.version} {event.event_id}: on the topic {seen}; in the outbox {outbox}"
    )
    delivered = next(m for m in orders if m["event_id"] == event.event_id)
    assert (delivered["type"], delivered["version"]) == (event.event_type, event.version)
    assert delivered["payload"]["owner"] == "dave"
    duplicates = Counter((m["service"], m["version"]) for m in orders)
    assert max(duplicates.values()) == 1, duplicates
    owner = paved(env, "who-owns", "orders", "--json")
    assert json.loads(owner.stdout)["owner"] == "dave"


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

    owner_change_survives_a_broker_outage(stack_env, components)

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
