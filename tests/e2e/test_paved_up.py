"""End to end: `paved up` in a temporary home on free ports (tests/e2e/conftest.py), the
demo request run through the gateway as alice, its deployment and the worker, then checked
in the fake GitHub, the registry and Prefect; dave's `service:create` through the gateway;
then an owner changed while the broker is stopped, and its event delivered once it is back.

This is the path a developer takes with `make up`; it runs the real CLI in a subprocess.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections import Counter
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.db import make_engine
from registry.models import OutboxEvent
from tests.e2e.conftest import PAVED, PROJECT_DIR, STACK_GROUP, Stack

pytestmark = [pytest.mark.e2e, STACK_GROUP]


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


CODE = re.compile(r"one-time code: ([0-9a-f]+)")
RUN_ID = re.compile(r"Run: \S+ \(([0-9a-f-]{36})\)")


def approval_requests(stack: Stack, handle: str) -> list[str]:
    """The bodies of the approval requests (with a one-time code) `handle` received."""
    listed = stack.paved("notifications", "--to", handle, "--json", timeout=30)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    return [m["body"] for m in json.loads(listed.stdout) if CODE.search(m["body"])]


def approve_as(stack: Stack, handle: str, *, seen: int, timeout: float = 120) -> str:
    """Wait for a new approval request to `handle` (after the `seen` ones), then resume
    that run through the gateway as `handle`, with the code; returns the run's id."""
    deadline = time.monotonic() + timeout
    while len(asks := approval_requests(stack, handle)) <= seen:
        assert time.monotonic() < deadline, f"no approval request reached {handle}"
        time.sleep(1)
    code, run_id = CODE.search(asks[-1]), RUN_ID.search(asks[-1])
    assert code and run_id, asks[-1]
    with stack.api(handle) as api:
        while api.get(f"/flow_runs/{run_id.group(1)}").json()["state"]["type"] != "PAUSED":
            assert time.monotonic() < deadline, "the run never paused"
            time.sleep(0.5)
        resumed = api.post(
            f"/flow_runs/{run_id.group(1)}/resume", json={"run_input": {"code": code.group(1)}}
        )
    assert resumed.status_code in (200, 201), resumed.text
    assert resumed.json()["status"] == "ACCEPT", resumed.text
    return run_id.group(1)


def owner_change_survives_a_broker_outage(stack: Stack) -> None:
    """`service:transfer` (dave asks, carol approves) with Kafka stopped completes and
    leaves its event in the outbox; with Kafka back, `registry:events:publish` delivers
    it, once per key and version."""
    registry_url = stack.registry_url
    stopped = stack.paved("stop", "kafka")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert "Stopped kafka." in stopped.stdout

    seen = len(approval_requests(stack, "carol"))
    transfer = subprocess.Popen(
        [
            PAVED,
            "run",
            "service:transfer",
            "--param",
            "service=orders",
            "--param",
            "new_owner=dave",
            "--param",
            "reason=carol hands orders over to dave",
            "--wait",
            "--json",
        ],
        env={**stack.env, "PAVED_TOKEN": stack.token("dave")},
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    approve_as(stack, "carol", seen=seen)
    out, err = transfer.communicate(timeout=300)
    assert transfer.returncode == 0, out + err
    assert json.loads(out)["state"] == "Completed"
    event = ownership_events(registry_url, "orders")[-1]
    assert event.payload["owner"] == "dave" and event.payload["previous"]["owner"] == "carol"
    assert event.published_at is None, "no broker: the event waits in the outbox"

    started = stack.paved("start", "kafka")
    assert started.returncode == 0, started.stdout + started.stderr
    # The publisher's deployment, through the worker (it also runs every minute: either
    # run may be the one that publishes; the deployment runs one at a time). Housekeeping
    # is for admins: alice runs it.
    published = stack.paved("run", "registry:events:publish", "--wait", as_="alice", timeout=360)
    assert published.returncode == 0, published.stdout + published.stderr
    assert all(e.published_at is not None for e in ownership_events(registry_url, "orders"))

    # The in-memory broker came back empty: what is on the topic was published since.
    orders = [
        m for m in registry_topic(stack.components["kafka"]["url"]) if m["service"] == "orders"
    ]
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
    owner = stack.paved("who-owns", "orders", "--json")
    assert json.loads(owner.stdout)["owner"] == "dave"


def test_paved_up_runs_the_demo_through_the_gateway(stack: Stack) -> None:
    up = stack.up.stdout
    assert "Completed" in up
    assert f"{stack.gateway_url}/runs/flow-run/" in up, "make up prints the gateway's URL"
    assert "paved who-owns acme/hello" in up

    components = stack.components
    assert set(components) >= {"gateway", "prefect", "worker", "github", "aws", "kafka"}
    assert all(component["healthy"] for component in components.values()), components
    assert components["gateway"]["api_url"] == f"{stack.gateway_url}/api"
    prefect_api = components["prefect"]["url"]
    assert prefect_api.endswith("/api") and components["prefect"]["ui_url"]
    assert components["kafka"]["url"] == f"127.0.0.1:{stack.env['PAVED_KAFKA_PORT']}"
    assert components["registry"]["url"].startswith("sqlite:///")

    # Only the gateway (and the workers) hold Prefect's auth string.
    direct = httpx.post(f"{prefect_api}/flow_runs/filter", json={}, trust_env=False)
    assert direct.status_code == 401
    with stack.api(None) as anonymous:
        refused = anonymous.post("/flow_runs/filter", json={})
    assert refused.status_code == 401 and "paved login" in refused.json()["detail"]

    github = components["github"]["url"]
    state = httpx.get(f"{github}/_fake/state").json()
    hello = next(repo for repo in state["repositories"] if repo["full_name"] == "acme/hello")
    assert "CODEOWNERS" in hello["files"]

    owner = stack.paved("who-owns", "acme/hello", "--json")
    assert owner.returncode == 0, owner.stdout + owner.stderr
    ownership = json.loads(owner.stdout)
    assert (ownership["service"], ownership["owner"], ownership["team"]) == (
        "hello",
        "alice",
        "platform",
    )

    tags = ["action:github:repo:create", "team:platform", "service:hello", "requester:alice"]
    with stack.api("alice") as api:
        runs = api.post("/flow_runs/filter", json={"flow_runs": {"tags": {"all_": tags}}}).json()
    assert runs, "the demo flow run is found in Prefect by its tags"
    assert {run["state"]["type"] for run in runs} == {"COMPLETED"}
    assert all(run["deployment_id"] for run in runs), "it ran through the deployment"
    assert {run["parameters"]["request"]["requester"] for run in runs} == {"alice"}


def test_dave_creates_a_service_and_hands_it_over_through_a_broker_outage(stack: Stack) -> None:
    named_carol = stack.paved(
        "run", "service:create", "--param", "name=orders", "--param", "team=payments",
        "--param", "owner=carol", "--param", "requester=carol", as_="dave",
    )  # fmt: skip
    assert named_carol.returncode == 1
    assert "you are dave; a request as carol is refused" in named_carol.stderr

    ran = stack.paved(
        "run", "service:create", "--param", "name=orders", "--param", "team=payments",
        "--param", "owner=carol", "--wait", "--json", as_="dave",
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    outcome = json.loads(ran.stdout)
    assert outcome["state"] == "Completed"
    assert outcome["url"].startswith(f"{stack.gateway_url}/runs/flow-run/")
    assert outcome["name"] == "create-service/payments/orders"
    with stack.api("dave") as api:
        run = api.get(f"/flow_runs/{outcome['flow_run_id']}").json()
    assert "requester:dave" in run["tags"]
    assert run["parameters"]["request"]["requester"] == "dave"
    journal = stack.paved("journal", "list", "--requester", "dave", "--json")
    entry = next(e for e in json.loads(journal.stdout) if e["flow_run_id"] == run["id"])
    assert (entry["action"], entry["service"], entry["state"]) == (
        "service:create",
        "orders",
        "Completed",
    )
    seen_by_the_providers(stack.components)
    orders = stack.paved("who-owns", "payments.orders.events", "--json")
    assert json.loads(orders.stdout)["owner"] == "carol"

    owner_change_survives_a_broker_outage(stack)

    again = stack.paved("up")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Completed" in again.stdout
