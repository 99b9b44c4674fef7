"""audit:drift against the real local providers: drift made behind Paved's back is found
once per difference with the right class and owner, the owner is told once, and after
the change approver's approval the changed settings and tags are restored."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka.admin import (
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)
from github import Github
from prefect.client.schemas.objects import StateType

from blocks import AwsAccount, KafkaCluster
from flows.actions.service_create import service_create
from flows.audits.drift import DriftAuditResult, audit_drift
from registry import queries
from registry.db import make_engine, session_scope
from registry.findings import list_findings
from sandbox.fake_github import FakeGitHubControl
from tests.flows.aws_faults import installed
from tests.flows.notify_helpers import Sink, approve, in_thread

pytestmark = pytest.mark.usefixtures(
    "paved_blocks", "aws_account", "kafka_cluster", "notify_channels"
)

BUCKET = "payments-orders-data"
BUCKET_ARN = f"arn:aws:s3:::{BUCKET}"
SCRATCH_ARN = "arn:aws:s3:::payments-scratch"
STATE_TOPIC, EVENTS_TOPIC = "payments.orders.state", "payments.orders.events"


def registry(url: str) -> Any:
    return session_scope(make_engine(url))


@pytest.fixture
def provider_calls(
    fake_github: FakeGitHubControl, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[], dict[str, int]]]:
    """Calls made to each provider from here on: the fake GitHub's request journal,
    botocore's before-send events, and Kafka admin clients built (no Kafka call is made
    without one; the client itself is the real confluent-kafka one)."""
    kafka_clients: list[KafkaCluster] = []
    build = KafkaCluster.get_admin_client

    def counted(cluster: KafkaCluster) -> Any:
        kafka_clients.append(cluster)
        return build(cluster)

    monkeypatch.setattr(KafkaCluster, "get_admin_client", counted)
    hooks = installed()
    aws = next(hooks)
    yield lambda: {
        "github": len(fake_github.requests()),
        "aws": sum(aws.calls.values()),
        "kafka": len(kafka_clients),
    }
    hooks.close()


NO_CALLS = {"github": 0, "aws": 0, "kafka": 0}


def audit(**request: Any) -> DriftAuditResult:
    state = audit_drift(request={"requester": "carol", **request}, return_state=True)
    assert state.is_completed(), state.message
    result = state.result()
    assert isinstance(result, DriftAuditResult)
    return result


def orders_findings(registry_url: str, *, open_only: bool = True) -> dict[tuple[str, str], Any]:
    """Findings about orders (and the scratch bucket named after payments), by class and
    identifier: other tests' leftovers on the shared broker are not this test's business."""
    with registry(registry_url) as session:
        rows = list_findings(session, open_only=open_only)
        return {
            (row.drift_class.value, row.identifier): (row.id, row.owner, row.first_seen)
            for row in rows
            if row.service == "orders" or row.identifier == SCRATCH_ARN
        }


def make_drift(github: Github, aws: AwsAccount, kafka: KafkaCluster, registry_url: str) -> None:
    """Six changes nobody asked Paved for."""
    admin = kafka.get_admin_client()
    for future in admin.delete_topics([STATE_TOPIC], operation_timeout=10).values():
        future.result()
    retention = ConfigResource(
        ResourceType.TOPIC,
        EVENTS_TOPIC,
        incremental_configs=[
            ConfigEntry("retention.ms", "3600000", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    for future in admin.incremental_alter_configs([retention]).values():
        future.result()
    s3 = aws.get_client("s3")
    s3.create_bucket(Bucket="payments-scratch")
    tags = s3.get_bucket_tagging(Bucket=BUCKET)["TagSet"]
    s3.put_bucket_tagging(
        Bucket=BUCKET,
        Tagging={"TagSet": [t for t in tags if t["Key"] != "paved:cost-center"]},
    )
    github.get_repo("acme/orders").get_branch("main").remove_protection()
    with registry(registry_url) as session:
        queries.deactivate_person(session, handle="dave", requester="carol")


def test_drift_is_found_once_told_once_and_restored_after_approval(
    fake_github: FakeGitHubControl,
    github: Github,
    aws_account: AwsAccount,
    kafka_cluster: KafkaCluster,
    registry_url: str,
    sink: Sink,
) -> None:
    created = service_create(
        request={
            "name": "orders",
            "team": "payments",
            "owner": "dave",
            "change_approver": "carol",
            "requester": "dave",
            "storage": ["bucket", "queue", "table"],
        },
        return_state=True,
    )
    assert created.is_completed(), created.message

    # What Paved just made is exactly what it declared: nothing to report about orders.
    first = audit()
    assert orders_findings(registry_url) == {}
    assert set(first.listed) == {"github", "aws", "kafka"} and all(first.calls.values())

    make_drift(github, aws_account, kafka_cluster, registry_url)
    sink.clear()
    audit()

    found = orders_findings(registry_url)
    assert set(found) == {
        ("missing", STATE_TOPIC),
        ("changed", EVENTS_TOPIC),
        ("unmanaged", SCRATCH_ARN),
        ("changed", "acme/orders"),
        ("mistagged", BUCKET_ARN),
        ("ownerless", "orders"),
    }
    # dave left: carol, the team lead, answers for all of it, and hears once.
    assert {owner for _, owner, _ in found.values()} == {"carol"}
    (message,) = sink.messages("carol")
    body = message["body"]["body"]
    for needle in (STATE_TOPIC, "retention.ms", "payments-scratch", "branch_protection"):
        assert needle in body
    assert sink.messages("dave") == []

    # The next day: the same findings, still open, and nobody is told again.
    again = audit()
    assert orders_findings(registry_url) == found
    assert again.opened == 0
    assert len(sink.messages("carol")) == 1

    sink.clear()
    thread, out = in_thread(
        lambda: audit_drift(
            request={
                # The scheduled audit asks: carol, change approver and lead, may approve
                # (an approval never goes to its own requester).
                "requester": "paved-audit",
                "remediate": True,
                "services": ["orders"],
                "approval_timeout_seconds": 60,
            },
            return_state=True,
        )
    )
    approve(sink, to="carol")
    thread.join(timeout=300)
    state = out[0]
    assert state.type == StateType.COMPLETED, state.message
    changes = "\n".join(state.result().remediated["orders"])
    assert "retention.ms" in changes and "paved:cost-center" in changes

    protection = github.get_repo("acme/orders").get_branch("main").get_protection()
    assert protection.required_pull_request_reviews.require_code_owner_reviews
    tags = aws_account.get_client("s3").get_bucket_tagging(Bucket=BUCKET)["TagSet"]
    assert {"Key": "paved:cost-center", "Value": "cc-200"} in tags
    admin = kafka_cluster.get_admin_client()
    configs = admin.describe_configs([ConfigResource(ResourceType.TOPIC, EVENTS_TOPIC)])
    (entries,) = [future.result(timeout=10) for future in configs.values()]
    assert entries["retention.ms"].value != "3600000"
    # Never a delete, never a create: the scratch bucket stays, the topic stays gone.
    buckets = {b["Name"] for b in aws_account.get_client("s3").list_buckets()["Buckets"]}
    assert "payments-scratch" in buckets

    with registry(registry_url) as session:
        journal = queries.journal_for_run(session, flow_run_id=str(state.state_details.flow_run_id))
        remediated = [e for e in journal if e.state == "Remediated"]
        assert remediated and remediated[0].parameters["remediation"]["approved_by"] == "carol"

    audit()
    assert set(orders_findings(registry_url)) == {
        ("missing", STATE_TOPIC),
        ("unmanaged", SCRATCH_ARN),
        ("ownerless", "orders"),
    }
    resolved = orders_findings(registry_url, open_only=False)
    assert ("changed", EVENTS_TOPIC) in resolved


def test_a_dry_run_reports_and_stores_nothing(registry_url: str, sink: Sink) -> None:
    state = audit_drift(request={"requester": "carol", "dry_run": True}, return_state=True)
    assert state.is_completed(), state.message
    with registry(registry_url) as session:
        assert list_findings(session) == []
    assert sink.messages() == []


def test_an_unknown_service_to_remediate_is_refused_before_any_call(
    provider_calls: Callable[[], dict[str, int]],
) -> None:
    state = audit_drift(
        request={"requester": "carol", "remediate": True, "services": ["nosuch"]},
        return_state=True,
    )
    assert state.type == StateType.FAILED
    assert "nosuch" in (state.message or "")
    assert provider_calls() == NO_CALLS


def test_services_without_remediate_is_refused_before_any_call(
    provider_calls: Callable[[], dict[str, int]],
) -> None:
    state = audit_drift(request={"requester": "carol", "services": ["orders"]}, return_state=True)
    assert state.type == StateType.FAILED
    assert "set remediate=true" in (state.message or "")
    assert provider_calls() == NO_CALLS


def test_a_service_nobody_can_approve_is_left_as_it_is(
    kafka_cluster: KafkaCluster, registry_url: str
) -> None:
    topic = "platform.ledger.events"
    admin = kafka_cluster.get_admin_client()
    for future in admin.create_topics(
        [NewTopic(topic, num_partitions=1, config={"retention.ms": "1000"})]
    ).values():
        future.result(timeout=10)
    with registry(registry_url) as session:
        # The change approver is the platform lead, alice, whom no channel reaches.
        queries.get_or_create_service(session, name="ledger", team="platform", owner="bob")
        queries.upsert_resource(
            session,
            service="ledger",
            provider="kafka",
            kind="kafka_topic",
            name=topic,
            external_id=topic,
            spec={"partitions": 1, "configs": {"retention.ms": "604800000"}},
            status="active",
        )

    result = audit(providers=["kafka"], remediate=True, services=["ledger"])

    (line,) = result.remediated["ledger"]
    assert line.startswith("not restored:") and "no approval code can reach them" in line
    with registry(registry_url) as session:
        (finding,) = list_findings(session, open_only=True, service="ledger", drift_class="changed")
        assert finding.identifier == topic
