"""`registry:events:publish` against the real Tansu broker: outbox to `paved.registry.v1`.

Events are read back with a real confluent-kafka Consumer. "Kafka down" is a
KafkaCluster block pointing at a port where nothing listens; the same block pointing at
the real broker again is "Kafka back".
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from prefect.states import State
from sqlalchemy import select
from sqlalchemy.orm import Session

from blocks import KAFKA_BLOCK, KafkaCluster
from flows.journal.registry_events import PublishResult, registry_events_publish
from registry import queries
from registry.db import make_engine, session_scope
from registry.models import OutboxEvent, Provider, ResourceStatus, ServiceStatus
from tasks.events import REGISTRY_TOPIC, RegistryEvent, publish_events
from tests.conftest import free_port

pytestmark = pytest.mark.usefixtures("paved_blocks", "kafka_cluster")


@contextmanager
def registry(url: str) -> Iterator[Session]:
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            yield session
    finally:
        engine.dispose()


def change_things(url: str, service: str) -> None:
    """A service made, activated, re-owned, with a repository: three events."""
    with registry(url) as session:
        queries.get_or_create_service(session, name=service, team="payments", owner="carol")
        queries.set_service_status(session, name=service, status=ServiceStatus.ACTIVE)
        queries.set_ownership(session, service=service, owner="dave", team="payments")
        queries.upsert_resource(
            session,
            service=service,
            provider=Provider.GITHUB,
            kind="github_repository",
            name=f"acme/{service}",
            status=ResourceStatus.ACTIVE,
        )


def outbox_rows(url: str) -> list[tuple[str, int, bool]]:
    with registry(url) as session:
        rows = session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))
        return [(row.event_id, row.version, row.published_at is not None) for row in rows]


def consume(cluster: KafkaCluster, service: str, expected: int) -> list[dict[str, Any]]:
    """Every message of `service` on the topic, in order, waiting for `expected` of them."""
    consumer = Consumer(
        {
            **cluster.client_config(),
            "group.id": f"test-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    # Assigned partitions rather than a group subscription: no rebalance to wait for.
    partitions = consumer.list_topics(REGISTRY_TOPIC, timeout=10).topics[REGISTRY_TOPIC].partitions
    consumer.assign([TopicPartition(REGISTRY_TOPIC, p, OFFSET_BEGINNING) for p in partitions])
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error() is not None:
                if len(found) >= expected:
                    break
                continue
            if message.key() == service.encode():
                found.append(json.loads(message.value() or b"{}"))
    finally:
        consumer.close()
    return found


def deduplicated(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What a consumer deduplicating by key and version applies, in order."""
    applied: dict[str, int] = {}
    kept = []
    for message in messages:
        if message["version"] > applied.get(message["service"], 0):
            applied[message["service"]] = message["version"]
            kept.append(message)
    return kept


def run() -> State[PublishResult]:
    return registry_events_publish(return_state=True)  # type: ignore[return-value]


def service_name() -> str:
    return f"svc{uuid.uuid4().hex[:8]}"


def test_events_are_published_in_order_and_marked(
    registry_url: str, kafka_cluster: KafkaCluster
) -> None:
    service = service_name()
    change_things(registry_url, service)
    state = run()
    assert state.is_completed()
    result = state.result()
    assert isinstance(result, PublishResult)
    assert (result.published, result.remaining) == (3, 0)
    assert all(published for _, _, published in outbox_rows(registry_url))

    messages = consume(kafka_cluster, service, expected=3)
    assert [m["version"] for m in messages] == [1, 2, 3]
    assert [m["type"] for m in messages] == [
        "service.status_changed",
        "service.ownership_changed",
        "resource.status_changed",
    ]
    assert {"event_id", "version", "type", "service", "payload", "occurred_at"} <= set(messages[0])
    assert messages[1]["payload"]["owner"] == "dave"
    # A second run finds nothing to do.
    assert run().result().published == 0  # type: ignore[union-attr]


def test_kafka_down_keeps_events_and_a_later_run_publishes_them_once(
    registry_url: str, kafka_cluster: KafkaCluster
) -> None:
    service = service_name()
    change_things(registry_url, service)
    KafkaCluster(bootstrap_servers=f"127.0.0.1:{free_port()}", request_timeout_seconds=1).save(
        KAFKA_BLOCK, overwrite=True
    )

    state = run()
    assert state.is_failed()
    rows = outbox_rows(registry_url)
    assert len(rows) == 3 and not any(published for _, _, published in rows)

    # More changes while Kafka is down; then Kafka is back.
    with registry(registry_url) as session:
        queries.set_service_status(session, name=service, status=ServiceStatus.RETIRED)
    kafka_cluster.save(KAFKA_BLOCK, overwrite=True)
    assert run().result().published == 4  # type: ignore[union-attr]

    messages = consume(kafka_cluster, service, expected=4)
    assert [m["version"] for m in messages] == [1, 2, 3, 4]
    assert {m["event_id"] for m in messages} == {event_id for event_id, _, _ in rows} | {
        messages[-1]["event_id"]
    }


def test_a_publish_not_marked_is_sent_again_and_deduplicated_by_version(
    registry_url: str, kafka_cluster: KafkaCluster
) -> None:
    service = service_name()
    change_things(registry_url, service)
    with registry(registry_url) as session:
        events = [
            RegistryEvent(
                event_id=row.event_id,
                version=row.version,
                type=row.event_type,
                service=row.service,
                payload=row.payload,
                occurred_at=row.occurred_at,
            )
            for row in session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))
        ]
    # As if a run died after Kafka's acknowledgement, before marking the outbox.
    publish_events.fn(kafka_cluster, events[:2])
    assert run().result().published == 3  # type: ignore[union-attr]

    messages = consume(kafka_cluster, service, expected=5)
    assert [m["version"] for m in messages] == [1, 2, 1, 2, 3]
    assert [m["version"] for m in deduplicated(messages)] == [1, 2, 3]
