"""The request of `service:create` (flows.actions.service_create): the golden path's parts
in one form, its size and topics the compute and topics requests' own types."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from flows.engine.request import PavedRequest
from flows.request_models.aws_compute_create import Size
from flows.request_models.kafka_topics_create import TopicRequest
from registry import policy

__all__ = ["ServiceCreateRequest", "StorageKind"]

StorageKind = Literal["bucket", "queue", "table"]


def _default_topics() -> list[TopicRequest]:
    return [
        TopicRequest(event="state", purpose="state"),
        TopicRequest(event="events", purpose="events"),
    ]


class ServiceCreateRequest(PavedRequest):
    """Create a whole service on the golden path."""

    name: str = Field(
        description="Service name (and repository name): lowercase letters, digits, hyphens.",
        examples=["orders"],
        json_schema_extra=policy.name_schema(max_length=policy.SERVICE_NAME_MAX),
    )
    team: str = Field(
        description="Slug of the owning team.",
        json_schema_extra=policy.name_schema(max_length=policy.TEAM_SLUG_MAX),
    )
    owner: str = Field(description="The one person accountable for the service; a team member.")
    description: str = Field(default="", max_length=350, description="One line about it.")
    change_approver: str | None = Field(
        default=None, description="Who approves changes; empty means the team lead."
    )
    oncall: str | None = Field(default=None, description="Who is paged; empty means the owner.")
    cost_watcher: str | None = Field(
        default=None, description="Who watches its cost; empty means the team lead."
    )
    size: Size = Field(default="small", description="Compute size (Fargate CPU/memory).")
    desired_count: int = Field(default=1, ge=0, le=10, description="Tasks to run.")
    container_port: int = Field(default=8080, ge=1, le=65535, description="Port it listens on.")
    storage: list[StorageKind] = Field(
        default_factory=list, description="Storage to create: bucket, queue (with DLQ), table."
    )
    topics: list[TopicRequest] = Field(
        default_factory=_default_topics,
        description="Kafka topics; by default a compacted state store and an events topic.",
    )
    depends_on: list[str] = Field(
        default_factory=list, description="Other services this one calls or consumes from."
    )
    region: str | None = Field(default=None, description="AWS region; empty means the default.")
    cleanup_on_failure: bool = Field(
        default=False, description="On failure, remove what this run created (journaled)."
    )

    @field_validator("name")
    @classmethod
    def _name_follows_policy(cls, value: str) -> str:
        return policy.validate_name(value, what="service name")

    @field_validator("team")
    @classmethod
    def _team_follows_policy(cls, value: str) -> str:
        return policy.validate_name(value, what="team", max_length=policy.TEAM_SLUG_MAX)

    @field_validator("description")
    @classmethod
    def _description_is_one_line(cls, value: str) -> str:
        return policy.require_one_line(value, what="description", max_len=350)

    @field_validator("storage")
    @classmethod
    def _no_repeats(cls, value: list[StorageKind]) -> list[StorageKind]:
        if len(set(value)) != len(value):
            raise ValueError("storage lists a kind twice")
        return value
