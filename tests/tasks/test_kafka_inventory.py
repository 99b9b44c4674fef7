"""The Kafka side of the drift audit against the real Tansu broker: listing in batches,
drift made behind Paved's back, and restoring it."""

from __future__ import annotations

import math
import uuid
from typing import Any

import pytest
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)

from blocks import KafkaCluster
from tasks.audit import Observed
from tasks.audit.kafka_inventory import (
    INTERNAL_TOPIC_PREFIX,
    list_topics_for_audit,
    list_topics_for_audit_task,
    restore_topic,
    restore_topic_task,
)
from tasks.errors import TransientProviderError
from tasks.kafka import TopicSpec, ensure_topic
from tests.conftest import free_port


def unique(event: str) -> str:
    return f"tests.inv{uuid.uuid4().hex[:8]}.{event}"


def declared(*, partitions: int = 3, retention: str = "604800000") -> dict[str, Any]:
    """A topic's declared spec as kafka:topics:create stores it in the registry."""
    return {
        "purpose": "events",
        "partitions": partitions,
        "replication_factor": 1,
        "configs": {"cleanup.policy": "delete", "retention.ms": retention},
    }


def make_topic(cluster: KafkaCluster, name: str, spec: dict[str, Any]) -> None:
    topic = TopicSpec(
        name=name,
        partitions=spec["partitions"],
        replication_factor=spec["replication_factor"],
        configs=spec["configs"],
    )
    assert ensure_topic.fn(cluster, spec=topic, update=False).status == "created"


def set_behind_paveds_back(admin: AdminClient, name: str, configs: dict[str, str]) -> None:
    resource = ConfigResource(
        ResourceType.TOPIC,
        name,
        incremental_configs=[
            ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
            for key, value in configs.items()
        ],
    )
    admin.incremental_alter_configs([resource], request_timeout=5)[resource].result()


def observed(cluster: KafkaCluster, name: str) -> Observed:
    [topic] = [r for r in list_topics_for_audit(cluster).resources if r.name == name]
    return topic


# --- listing ---------------------------------------------------------------------------


def test_250_topics_take_one_listing_and_one_describe_per_hundred(
    cluster: KafkaCluster,
) -> None:
    admin = cluster.get_admin_client()
    prefix = unique("e")
    wanted = {
        f"{prefix}{i}": NewTopic(
            f"{prefix}{i}", 1 + i % 4, 1, config={"retention.ms": str(3_600_000 + i)}
        )
        for i in range(250)
    }
    internal = f"{INTERNAL_TOPIC_PREFIX}paved_tests_{uuid.uuid4().hex[:8]}"
    topics = [*wanted.values(), NewTopic(internal, 1, 1)]
    for future in admin.create_topics(topics, request_timeout=30).values():
        future.result()
    on_cluster = set(admin.list_topics(timeout=10).topics)

    inventory = list_topics_for_audit(cluster)

    listed = {topic.name: topic for topic in inventory.resources}
    assert set(listed) == {n for n in on_cluster if not n.startswith(INTERNAL_TOPIC_PREFIX)}
    assert internal not in listed and set(wanted) <= set(listed)
    assert inventory.calls == 1 + math.ceil(len(listed) / 100)
    assert (inventory.provider, inventory.kinds) == ("kafka", ["kafka_topic"])
    for name, topic in wanted.items():
        found = listed[name]
        assert (found.kind, found.external_id, found.tags) == ("kafka_topic", name, None)
        assert found.settings == {
            "partitions": topic.num_partitions,
            "replication_factor": 1,
            "configs": topic.config,
        }


def test_batch_size_sets_the_number_of_describe_calls(cluster: KafkaCluster) -> None:
    for event in ("a", "b", "c", "d", "e"):
        make_topic(cluster, unique(event), declared())
    total = len(list_topics_for_audit(cluster).resources)

    inventory = list_topics_for_audit_task.fn(cluster, batch_size=2)

    assert len(inventory.resources) == total
    assert inventory.calls == 1 + math.ceil(total / 2)


# --- drift behind Paved's back, and restoring it -----------------------------------------


def test_a_retention_change_shows_and_restore_brings_it_back_once(
    cluster: KafkaCluster,
) -> None:
    name = unique("events")
    spec = declared()
    make_topic(cluster, name, spec)
    assert observed(cluster, name).settings["configs"] == spec["configs"]

    set_behind_paveds_back(cluster.get_admin_client(), name, {"retention.ms": "3600000"})
    drifted = observed(cluster, name).settings["configs"]
    assert drifted == {**spec["configs"], "retention.ms": "3600000"}

    changes = restore_topic(cluster, name=name, declared=spec)

    assert changes == ["set retention.ms to 604800000 (was 3600000)"]
    assert observed(cluster, name).settings["configs"] == spec["configs"]
    assert restore_topic_task.fn(cluster, name=name, declared=spec) == []


def test_a_partition_difference_is_reported_and_the_configs_restored(
    cluster: KafkaCluster,
) -> None:
    name = unique("events")
    make_topic(cluster, name, declared(partitions=1, retention="3600000"))

    changes = restore_topic(cluster, name=name, declared=declared(partitions=3))

    [not_restored] = [line for line in changes if line.startswith("not restored")]
    assert "partitions is 1 on the cluster, 3 requested" in not_restored
    assert "set retention.ms to 604800000 (was 3600000)" in changes
    topic = observed(cluster, name)
    assert topic.settings["partitions"] == 1, "never changed, never re-created"
    assert topic.settings["configs"]["retention.ms"] == "604800000"


def test_restoring_a_missing_topic_reports_it_and_creates_nothing(
    cluster: KafkaCluster,
) -> None:
    name = unique("events")

    [line] = restore_topic(cluster, name=name, declared=declared())

    assert line == f"not restored: topic {name} does not exist"
    assert name not in cluster.get_admin_client().list_topics(timeout=5).topics


# --- broker down -----------------------------------------------------------------------


def test_an_unreachable_broker_is_transient() -> None:
    down = KafkaCluster(bootstrap_servers=f"127.0.0.1:{free_port()}", request_timeout_seconds=0.3)

    with pytest.raises(TransientProviderError, match=r"_TRANSPORT|no answer") as raised:
        list_topics_for_audit(down)

    assert raised.value.provider == "kafka" and raised.value.operation == "list topics"
    assert raised.value.__cause__ is not None
