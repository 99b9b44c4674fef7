"""`registry:events:publish` — publish the registry's outbox to Kafka `paved.registry.v1`.

Registry changes (ownership, service and resource state) are written to the outbox in
the transaction that makes them (`registry.outbox`). This flow, deployed to run every
minute, reads the unpublished events oldest first, publishes them with an idempotent
producer, and marks them published only after Kafka acknowledged every one.

Delivery is **at least once**: when Kafka is down the publish task fails transiently,
nothing is marked, the events stay in the outbox and the run fails; the next run
publishes them. A run that dies between Kafka's acknowledgement and the outbox update
publishes the same events again next time. Nothing is lost, and duplicates are harmless
to a consumer that keeps, per key (the service), the highest `version` it has applied
and skips any event whose version is not above it: versions count each service's
events from 1 in commit order, and events of one key reach one partition in order.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from pydantic import BaseModel, Field

from blocks import KAFKA_BLOCK, KafkaCluster, load_block
from flows.engine.session import registry_session
from registry import outbox
from tasks.events import REGISTRY_TOPIC, RegistryEvent, publish_events

__all__ = ["ACTION", "PublishResult", "registry_events_publish"]

ACTION = "registry:events:publish"


class PublishResult(BaseModel):
    """What one run published."""

    topic: str = Field(description="The Kafka topic.")
    published: int = Field(description="Events published and marked in this run.")
    remaining: int = Field(description="Unpublished events left for the next run.")


def _pending(limit: int) -> list[RegistryEvent]:
    with registry_session() as session:
        return [
            RegistryEvent(
                event_id=row.event_id,
                version=row.version,
                type=row.event_type,
                service=row.service,
                payload=row.payload,
                occurred_at=row.occurred_at,
            )
            for row in outbox.unpublished_events(session, limit=limit)
        ]


@flow(name="registry-events-publish", log_prints=False)
def registry_events_publish(batch_size: int = 500) -> PublishResult:
    """Publish up to `batch_size` unpublished registry events per batch until none is left."""
    logger = get_run_logger()
    cluster = load_block(KafkaCluster, KAFKA_BLOCK)
    published = 0
    while events := _pending(batch_size):
        acknowledged = publish_events(cluster, events)
        with registry_session() as session:
            published += outbox.mark_published(session, event_ids=acknowledged)
        if len(events) < batch_size:
            break
    with registry_session() as session:
        remaining = len(outbox.unpublished_events(session, limit=None))
    logger.info("Published %d registry events to %s", published, REGISTRY_TOPIC)
    return PublishResult(topic=REGISTRY_TOPIC, published=published, remaining=remaining)
