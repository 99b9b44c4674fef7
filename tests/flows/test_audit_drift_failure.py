"""audit:drift when a provider cannot be listed, against the real local providers: the run
fails (the gap shows in the UI), the findings of that provider are left exactly as they
were (not resolved, not touched), and those of the providers that were listed are
reconciled as usual (flows/audits/drift.py: "one failing provider does not stop the
others, and its findings are left as they were")."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka.admin import NewTopic
from github import Github
from prefect.client.schemas.objects import StateType

from blocks import KafkaCluster
from flows.audits.drift import audit_drift
from registry.db import make_engine, session_scope
from registry.findings import list_findings
from sandbox.fake_github import FakeGitHubControl
from sandbox.fake_github.graphql import GRAPHQL_PATH

pytestmark = pytest.mark.usefixtures(
    "paved_blocks", "aws_account", "kafka_cluster", "notify_channels"
)

HAND_MADE_REPO = "acme/hand-made-failure"
GONE_TOPIC, NEW_TOPIC = "adhoc.failure.gone", "adhoc.failure.new"
FindingRow = tuple[Any, ...]


def findings(registry_url: str, provider: str) -> dict[int, FindingRow]:
    """Every finding of `provider`, open or resolved, as every column the audit writes."""
    engine = make_engine(registry_url)
    try:
        with session_scope(engine) as session:
            return {
                row.id: (
                    row.drift_class.value,
                    row.identifier,
                    row.summary,
                    row.owner,
                    row.first_seen,
                    row.last_seen,
                    row.resolved_at,
                    row.notified_at,
                )
                for row in list_findings(session)
                if row.provider == provider
            }
    finally:
        engine.dispose()


def open_identifiers(registry_url: str, provider: str) -> set[str]:
    return {
        identifier
        for _, identifier, *_, resolved_at, _notified in findings(registry_url, provider).values()
        if resolved_at is None
    }


def make_topic(cluster: KafkaCluster, name: str) -> None:
    admin = cluster.get_admin_client()
    for future in admin.create_topics([NewTopic(name, num_partitions=1)]).values():
        future.result(timeout=10)


def test_an_unlistable_provider_keeps_its_findings_and_fails_the_run(
    fake_github: FakeGitHubControl,
    github: Github,
    kafka_cluster: KafkaCluster,
    registry_url: str,
) -> None:
    # Drift on GitHub and on Kafka, found by a complete audit.
    github.get_organization("acme").create_repo(HAND_MADE_REPO.split("/")[1], private=True)
    make_topic(kafka_cluster, GONE_TOPIC)
    first = audit_drift(request={"requester": "carol"}, return_state=True)
    assert first.is_completed(), first.message
    github_before = findings(registry_url, "github")
    assert HAND_MADE_REPO in open_identifiers(registry_url, "github")
    assert GONE_TOPIC in open_identifiers(registry_url, "kafka")

    # The world moves on: the hand-made repository and topic go, another topic comes.
    github.get_repo(HAND_MADE_REPO).delete()
    admin = kafka_cluster.get_admin_client()
    for future in admin.delete_topics([GONE_TOPIC], operation_timeout=10).values():
        future.result()
    make_topic(kafka_cluster, NEW_TOPIC)
    # GitHub refuses the inventory's GraphQL query (a revoked token) every time it is asked.
    fake_github.add_fault(GRAPHQL_PATH, method="POST", status=401, times=1000)

    state = audit_drift(request={"requester": "carol"}, return_state=True)

    assert state.type == StateType.FAILED
    assert "github could not be listed" in (state.message or "")
    assert fake_github.faults()[0]["times"] < 1000, "the GitHub inventory was never asked"
    # GitHub's findings: the same rows, in the same state; the repository that is gone
    # is not resolved on the word of an inventory that never came.
    assert findings(registry_url, "github") == github_before
    # Kafka was listed: its findings are reconciled (one resolved, one opened).
    kafka_open = open_identifiers(registry_url, "kafka")
    assert NEW_TOPIC in kafka_open and GONE_TOPIC not in kafka_open
