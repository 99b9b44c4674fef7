"""The request of `kafka:topics:create` (flows.actions.kafka_topics_create): the service's
topics, each a `TopicRequest` (service:create asks for topics the same way)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from flows.engine.request import PavedRequest
from registry import policy
from registry.errors import PolicyViolation

__all__ = ["MIN_RETENTION_MS", "TopicRequest", "TopicsCreateRequest"]

# Shorter retention than this loses events to any consumer down over a lunch break.
MIN_RETENTION_MS = 3_600_000


class TopicRequest(BaseModel):
    """One topic of the service."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event: str = Field(
        description=(
            "Last part of the topic name `<domain>.<service>.<event>`, e.g. `state`, "
            "`events`, `order-placed`: lowercase letters, digits and single hyphens."
        ),
        json_schema_extra=policy.name_schema(max_length=policy.TOPIC_PART_MAX),
    )
    purpose: Literal["state", "events"] = Field(
        description=(
            "`state`: a compacted topic holding the latest value per key (the service's "
            "state store); `events`: a log of events deleted after the retention."
        )
    )
    partitions: int | None = Field(
        default=None,
        ge=1,
        description="Partitions; empty means the cluster's default. The cluster sets the most.",
    )
    retention_ms: int | None = Field(
        default=None,
        ge=MIN_RETENTION_MS,
        description=(
            "How long events are kept, in milliseconds (events topics only; at least one "
            "hour, at most the cluster's limit); empty means the cluster's default."
        ),
    )

    @field_validator("event")
    @classmethod
    def _event_follows_policy(cls, value: str) -> str:
        return policy.validate_name(value, what="topic event", max_length=policy.TOPIC_PART_MAX)

    @model_validator(mode="after")
    def _retention_only_for_events(self) -> TopicRequest:
        if self.purpose == "state" and self.retention_ms is not None:
            raise PolicyViolation(
                f"topic event {self.event!r} is a state topic: it is compacted and keeps the "
                "latest value per key, so it takes no retention_ms"
            )
        return self


def _default_topics() -> list[TopicRequest]:
    return [
        TopicRequest(event="state", purpose="state"),
        TopicRequest(event="events", purpose="events"),
    ]


class TopicsCreateRequest(PavedRequest):
    """Create Kafka topics for an existing service: its state store and its event logs."""

    service: str = Field(
        description="The existing service the topics belong to, e.g. `orders`.",
        json_schema_extra=policy.name_schema(max_length=policy.SERVICE_NAME_MAX),
    )
    domain: str | None = Field(
        default=None,
        description=(
            "First part of the topic names; empty means the owning team's slug. Another "
            "domain must be granted to the team in the registry; `paved` is Paved's own."
        ),
        json_schema_extra=policy.name_schema(max_length=policy.TOPIC_PART_MAX),
    )
    topics: list[TopicRequest] = Field(
        default_factory=_default_topics,
        min_length=1,
        description="The topics; by default a `state` (compacted) and an `events` topic.",
    )
    update_existing: bool = Field(
        default=False,
        description=(
            "Set the requested configs (cleanup policy, retention) on topics that exist "
            "with other values; without it such a topic is a conflict and left untouched. "
            "A different partition count is always a conflict."
        ),
    )

    @field_validator("service")
    @classmethod
    def _service_follows_policy(cls, value: str) -> str:
        return policy.validate_name(value, what="service name")

    @field_validator("domain")
    @classmethod
    def _domain_follows_policy(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return policy.validate_name(value, what="topic domain", max_length=policy.TOPIC_PART_MAX)
