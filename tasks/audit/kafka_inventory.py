"""The Kafka side of the drift audit: every topic on the cluster, and restoring one.

Listing costs one metadata call for the whole cluster, then one DescribeConfigs call per
`batch_size` topics, so 10,000 topics take 101 calls (the audit's budget is one call per
50 resources). Settings are observed under the keys `kafka:topics:create` declares
(`partitions`, `replication_factor`, `configs`), config values as strings the way
`tasks.kafka.TopicSpec` holds them, so the audit compares them field by field.

Restoring compares with `tasks.kafka.describe_topic` and `topic_differences`, the same
comparison `kafka:topics:create` makes, then SETs the differing configs. It does not go
through `ensure_topic`: that creates a missing topic, and leaves every config alone when
the partition count differs, while remediation must create nothing and still restore the
configs. It reports what it cannot restore (partition count, replication factor)
instead of failing, and never deletes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType
from prefect import task

from tasks.audit import Observed, ProviderInventory
from tasks.kafka import (
    MANAGED_CONFIGS,
    TopicSpec,
    describe_topic,
    kafka_errors,
    topic_differences,
)
from tasks.logs import task_logger
from tasks.retries import PROVIDER_TASK_OPTIONS

if TYPE_CHECKING:
    from confluent_kafka.admin import TopicMetadata

    from blocks.kafka import KafkaCluster

__all__ = [
    "INTERNAL_TOPIC_PREFIX",
    "KIND",
    "list_topics_for_audit",
    "list_topics_for_audit_task",
    "restore_topic",
    "restore_topic_task",
]

PROVIDER = "kafka"
KIND = "kafka_topic"

# Kafka's own topics (__consumer_offsets, __transaction_state) start with this; Tansu 0.6
# keeps its state outside topics and lists none of its own on a fresh broker.
INTERNAL_TOPIC_PREFIX = "__"

# Extra seconds to wait on a future beyond the request timeout the broker was given
# (the same grace tasks.kafka gives its futures).
_FUTURE_GRACE_SECONDS = 5.0


def list_topics_for_audit(cluster: KafkaCluster, *, batch_size: int = 100) -> ProviderInventory:
    """Every non-internal topic on `cluster` with its partitions, replication factor and
    every config the broker reports; raises Transient/PermanentProviderError."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    with kafka_errors("list topics", cluster.bootstrap_servers):
        return _inventory(cluster, batch_size)


# The AdminClient lives in this helper's frame, never in the caller's: kafka_errors clears
# finished frames, so a failed attempt keeps no client of a down broker alive.
def _inventory(cluster: KafkaCluster, batch_size: int) -> ProviderInventory:
    admin = cluster.get_admin_client()
    timeout = cluster.request_timeout_seconds
    listed = admin.list_topics(timeout=timeout).topics
    calls = 1
    topics: dict[str, TopicMetadata] = {}
    for name, metadata in sorted(listed.items()):
        if name.startswith(INTERNAL_TOPIC_PREFIX):
            continue
        if metadata.error is not None:
            if metadata.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                continue  # deleted while the metadata was being gathered
            raise KafkaException(metadata.error)
        topics[name] = metadata

    configs: dict[str, dict[str, str]] = {}
    names = list(topics)
    for first in range(0, len(names), batch_size):
        resources = [
            ConfigResource(ResourceType.TOPIC, name) for name in names[first : first + batch_size]
        ]
        futures = admin.describe_configs(resources, request_timeout=timeout)
        calls += 1
        for resource, future in futures.items():
            try:
                entries = future.result(timeout=timeout + _FUTURE_GRACE_SECONDS)
            except KafkaException as exc:
                error = exc.args[0] if exc.args else None
                if (
                    isinstance(error, KafkaError)
                    and error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
                ):
                    continue  # deleted since the listing: the audit will find it missing
                raise
            # Sensitive configs come back without a value: there is nothing to compare.
            configs[resource.name] = {
                key: str(entry.value) for key, entry in entries.items() if entry.value is not None
            }

    resources_found = [
        _observed(name, topics[name], configs[name]) for name in names if name in configs
    ]
    return ProviderInventory(
        provider=PROVIDER, kinds=[KIND], resources=resources_found, calls=calls
    )


def _observed(name: str, metadata: TopicMetadata, configs: dict[str, str]) -> Observed:
    partitions = list(metadata.partitions.values())
    return Observed(
        provider=PROVIDER,
        kind=KIND,
        external_id=name,
        name=name,
        tags=None,
        settings={
            "partitions": len(partitions),
            "replication_factor": max((len(p.replicas) for p in partitions), default=0),
            "configs": configs,
        },
    )


@task(name="kafka: list topics for audit", **PROVIDER_TASK_OPTIONS)
def list_topics_for_audit_task(
    cluster: KafkaCluster, *, batch_size: int = 100
) -> ProviderInventory:
    """`list_topics_for_audit` as a retrying Prefect task."""
    inventory = list_topics_for_audit(cluster, batch_size=batch_size)
    task_logger().info(
        "Listed %d topics on %s in %d calls",
        len(inventory.resources),
        cluster.bootstrap_servers,
        inventory.calls,
    )
    return inventory


def _declared_spec(name: str, declared: Mapping[str, Any]) -> TopicSpec:
    """The registry's declared spec (`partitions`, `replication_factor`, `configs`; other
    keys such as `purpose` ignored) as a TopicSpec; config values as strings."""
    return TopicSpec(
        name=name,
        partitions=declared["partitions"],
        replication_factor=declared["replication_factor"],
        configs={key: str(value) for key, value in dict(declared.get("configs") or {}).items()},
    )


def restore_topic(cluster: KafkaCluster, *, name: str, declared: Mapping[str, Any]) -> list[str]:
    """Set the declared configs on topic `name` where the cluster differs; returns one
    line per change made and per difference left alone (empty when all was in place).

    Only configs Paved manages (`tasks.kafka.MANAGED_CONFIGS`) are set, with
    incremental_alter_configs (SET), so other configs on the topic stay. A different
    partition count or replication factor is reported as not restorable, and the configs
    are restored all the same; a topic that no longer exists is reported, not re-created.
    Nothing is ever deleted.
    """
    wanted = _declared_spec(name, declared)
    lines = [
        f"not restored: {key} is not a config Paved manages ({', '.join(MANAGED_CONFIGS)})"
        for key in sorted(wanted.configs)
        if key not in MANAGED_CONFIGS
    ]
    managed = wanted.model_copy(
        update={"configs": {k: v for k, v in wanted.configs.items() if k in MANAGED_CONFIGS}}
    )
    state = describe_topic.fn(cluster, name=name)
    if state is None:
        return [*lines, f"not restored: topic {name} does not exist"]
    differences = topic_differences(state, managed)
    lines += [f"not restored: {d.describe()}" for d in differences if not d.fixable]
    fixable = [d for d in differences if d.fixable]
    if fixable:
        with kafka_errors("restore topic", name):
            _set_configs(cluster, name, {d.setting: d.wanted for d in fixable})
        lines += [
            f"set {d.setting} to {d.wanted} (was {'unset' if d.actual is None else d.actual})"
            for d in fixable
        ]
    return lines


def _set_configs(cluster: KafkaCluster, name: str, configs: Mapping[str, str]) -> None:
    resource = ConfigResource(
        ResourceType.TOPIC,
        name,
        incremental_configs=[
            ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
            for key, value in sorted(configs.items())
        ],
    )
    admin = cluster.get_admin_client()
    futures = admin.incremental_alter_configs(
        [resource], request_timeout=cluster.request_timeout_seconds
    )
    futures[resource].result(timeout=cluster.request_timeout_seconds + _FUTURE_GRACE_SECONDS)


@task(name="kafka: restore topic", **PROVIDER_TASK_OPTIONS)
def restore_topic_task(
    cluster: KafkaCluster, *, name: str, declared: Mapping[str, Any]
) -> list[str]:
    """`restore_topic` as a retrying Prefect task."""
    lines = restore_topic(cluster, name=name, declared=declared)
    task_logger().info("Restore of topic %s: %s", name, "; ".join(lines) or "nothing to do")
    return lines
