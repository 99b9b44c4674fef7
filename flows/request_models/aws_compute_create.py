"""The request of `aws:compute:create` (flows.actions.aws_compute_create): the sizes and log
retentions a request may ask for."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from flows.engine.request import PavedRequest
from registry import policy
from registry.errors import PolicyViolation

__all__ = ["LOG_RETENTION_DAYS", "ComputeCreateRequest", "Size"]

Size = Literal["small", "medium", "large"]

# The retention periods CloudWatch Logs accepts, in days.
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
    2922, 3288, 3653,
)  # fmt: skip


class ComputeCreateRequest(PavedRequest):
    """Run an existing service as a Fargate service in the shared ECS cluster."""

    service: str = Field(
        description="Name of the existing service to run, e.g. `orders`.",
        examples=["orders"],
        json_schema_extra=policy.name_schema(max_length=policy.SERVICE_NAME_MAX),
    )
    size: Size = Field(
        default="small",
        description="Task size: small 0.25 vCPU/512 MiB, medium 0.5/1024, large 1/2048.",
    )
    desired_count: int = Field(
        default=1, ge=0, le=10, description="How many tasks to keep running (0..10)."
    )
    container_port: int = Field(
        default=8080, ge=1, le=65535, description="Port the container listens on (1..65535)."
    )
    log_retention_days: int = Field(
        default=30,
        description="Days CloudWatch keeps the logs: one of "
        + ", ".join(map(str, LOG_RETENTION_DAYS))
        + ".",
        json_schema_extra={"enum": list(LOG_RETENTION_DAYS)},
    )
    region: str | None = Field(
        default=None,
        description="AWS region, one the AWS account block allows; empty means its default.",
    )

    @field_validator("service")
    @classmethod
    def _service_follows_policy(cls, value: str) -> str:
        return policy.validate_name(value, what="service name")

    @field_validator("log_retention_days")
    @classmethod
    def _retention_cloudwatch_accepts(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            allowed = ", ".join(map(str, LOG_RETENTION_DAYS))
            raise PolicyViolation(
                f"log retention of {value} days is not one CloudWatch accepts: {allowed}"
            )
        return value
