"""The request of `aws:storage:create` (flows.actions.aws_storage_create), with the key
attribute names it accepts."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from flows.engine.request import PavedRequest
from registry import policy
from registry.errors import PolicyViolation

__all__ = ["ATTRIBUTE_PATTERN", "StorageCreateRequest"]

# DynamoDB key attribute names Paved accepts: short, plain, the same in every SDK.
ATTRIBUTE_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"
_ATTRIBUTE = re.compile(ATTRIBUTE_PATTERN)


def _attribute_name(value: str, *, what: str) -> str:
    if not _ATTRIBUTE.fullmatch(value):
        raise PolicyViolation(
            f"{what} {value!r} is not allowed: start with a letter, then letters, digits "
            "or underscores, at most 64 characters"
        )
    return value


class StorageCreateRequest(PavedRequest):
    """Create the storage of an existing service: bucket, queue with dead-letter queue, table."""

    service: str = Field(
        description="Name of the existing service the storage belongs to, e.g. `orders`.",
        examples=["orders"],
        json_schema_extra=policy.name_schema(max_length=policy.SERVICE_NAME_MAX),
    )
    bucket: bool = Field(default=True, description="Create the S3 bucket `<team>-<service>-data`.")
    queue: bool = Field(
        default=True,
        description="Create the SQS queue `<team>-<service>-jobs` and its dead-letter queue.",
    )
    table: bool = Field(
        default=True, description="Create the DynamoDB table `<team>-<service>-state`."
    )
    region: str | None = Field(
        default=None,
        description="AWS region, one the AWS account block allows; empty means its default.",
    )
    versioning: bool = Field(default=True, description="Keep every version of bucket objects.")
    visibility_timeout_seconds: int = Field(
        default=30,
        ge=0,
        le=43200,
        description="Seconds a received message stays hidden from other consumers (0..43200).",
    )
    max_receive_count: int = Field(
        default=5,
        ge=1,
        le=20,
        description="Receives before a message moves to the dead-letter queue (1..20).",
    )
    message_retention_days: int = Field(
        default=4, ge=1, le=14, description="Days the queue keeps a message (1..14)."
    )
    partition_key: str = Field(
        default="pk",
        description="Partition key attribute of the table (a string attribute).",
        json_schema_extra={"pattern": ATTRIBUTE_PATTERN},
    )
    sort_key: str | None = Field(
        default=None,
        description="Sort key attribute of the table (a string attribute); empty means none.",
        json_schema_extra={"pattern": ATTRIBUTE_PATTERN},
    )

    @field_validator("service")
    @classmethod
    def _service_follows_policy(cls, value: str) -> str:
        return policy.validate_name(value, what="service name")

    @field_validator("partition_key")
    @classmethod
    def _partition_key_is_plain(cls, value: str) -> str:
        return _attribute_name(value, what="partition key")

    @field_validator("sort_key")
    @classmethod
    def _sort_key_is_plain(cls, value: str | None) -> str | None:
        return None if value is None else _attribute_name(value, what="sort key")

    @model_validator(mode="after")
    def _asks_for_something(self) -> StorageCreateRequest:
        if not (self.bucket or self.queue or self.table):
            raise PolicyViolation("ask for at least one of bucket, queue and table")
        if self.sort_key is not None and self.sort_key == self.partition_key:
            raise PolicyViolation(f"sort key {self.sort_key!r} must differ from the partition key")
        return self
