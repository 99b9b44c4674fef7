"""Registry events to Kafka: the topic `paved.registry.v1` and an idempotent producer.

The producer is built from the KafkaCluster block with `enable.idempotence=true` and
`acks=all`, so the broker neither loses nor duplicates what one producer sends, in order.
Messages are keyed by service (all of a service's events go to one partition, in order)
and carry `event_id` and a per-service `version` for consumers to drop the duplicates a
re-run of the publisher can send. The topic is created with the admin client when
missing; the clients never create it by asking for its metadata.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import NewTopic
from prefect import task
from pydantic import BaseModel, Field

from tasks.errors import TransientProviderError
from tasks.kafka import PROVIDER, kafka_errors
from tasks.logs import task_logger
from tasks.retries import PROVIDER_TASK_OPTIONS

if TYPE_CHECKING:
    from blocks.kafka import KafkaCluster

__all__ = ["REGISTRY_TOPIC", "RegistryEvent", "ensure_registry_topic", "publish_events"]

REGISTRY_TOPIC = "paved.registry.v1"


class RegistryEvent(BaseModel):
    """One registry change as published: the message value, as JSON."""

    event_id: str = Field(description="Unique id of the event (a UUID).")
    version: int = Field(ge=1, description="Position of the event among its service's events.")
    type: str = Field(description="e.g. `service.ownership_changed`.")
    service: str = Field(description="The service the event is about; the message key.")
    payload: dict[str, Any] = Field(description="What changed.")
    occurred_at: datetime = Field(description="When the change was committed (UTC).")


def ensure_registry_topic(cluster: KafkaCluster) -> bool:
    """Create `paved.registry.v1` if missing; True when this call created it."""
    defaults = cluster.topic_defaults
    admin = cluster.get_admin_client()
    topic = NewTopic(
        REGISTRY_TOPIC,
        num_partitions=defaults.partitions,
        replication_factor=defaults.replication_factor,
        # Consumers rebuild state from history: keep the latest event of every key.
        config={"cleanup.policy": "compact"},
    )
    with kafka_errors("create topic", REGISTRY_TOPIC):
        timeout = cluster.request_timeout_seconds
        future = admin.create_topics([topic], request_timeout=timeout)[REGISTRY_TOPIC]
        try:
            future.result(timeout=timeout + 5)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                return False
            raise
    return True


def _producer(cluster: KafkaCluster) -> Producer:
    config: dict[str, Any] = {
        key: value
        for key, value in cluster.client_config().items()
        # A consumer-only property; the topic is made by ensure_registry_topic.
        if key != "allow.auto.create.topics"
    }
    timeout_ms = int(cluster.request_timeout_seconds * 1000)
    config.update(
        {
            "enable.idempotence": True,
            "acks": "all",
            # Give up on a message after this long: a down broker fails the run instead
            # of holding it; the events stay in the outbox.
            "message.timeout.ms": timeout_ms,
            "request.timeout.ms": timeout_ms,
        }
    )
    return Producer(config)


@task(name="kafka: publish registry events", **PROVIDER_TASK_OPTIONS)
def publish_events(cluster: KafkaCluster, events: list[RegistryEvent]) -> list[str]:
    """Publish `events` in order and wait for the broker's acknowledgement of each.

    Returns the ids of the events acknowledged (all of them); TransientProviderError when
    any was not, e.g. the broker is down: the caller then marks nothing published.
    """
    if not events:
        return []
    logger = task_logger()
    if ensure_registry_topic(cluster):
        logger.info("Created topic %s", REGISTRY_TOPIC)
    producer = _producer(cluster)
    failures: list[str] = []
    delivered: list[str] = []

    def on_delivery(error: KafkaError | None, message: Message) -> None:
        event_id = json.loads(message.value() or b"{}").get("event_id", "?")
        if error is None:
            delivered.append(event_id)
        else:
            failures.append(f"{event_id}: {error.name()}: {error.str()}")

    for event in events:
        producer.produce(
            REGISTRY_TOPIC,
            key=event.service.encode(),
            value=event.model_dump_json().encode(),
            on_delivery=on_delivery,
        )
        producer.poll(0)
    remaining = producer.flush(cluster.request_timeout_seconds * 2)
    if failures or remaining:
        raise TransientProviderError(
            provider=PROVIDER,
            operation="publish registry events",
            resource=REGISTRY_TOPIC,
            cause=(
                f"{len(delivered)} of {len(events)} acknowledged, {remaining} unanswered; "
                + "; ".join(failures[:3])
            ),
        )
    logger.info("Published %d registry events to %s", len(delivered), REGISTRY_TOPIC)
    return delivered
