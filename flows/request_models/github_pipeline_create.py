"""The request of `github:pipeline:create` (flows.actions.github_pipeline_create)."""

from __future__ import annotations

from pydantic import Field, field_validator

from flows.engine.request import PavedRequest
from registry import policy

__all__ = ["PipelineCreateRequest"]


class PipelineCreateRequest(PavedRequest):
    """Add CI/CD to an existing service's repository: workflows, environments, deploy role."""

    service: str = Field(
        description="The existing service whose repository gets the pipeline.",
        examples=["orders"],
        json_schema_extra=policy.name_schema(max_length=policy.SERVICE_NAME_MAX),
    )
    region: str | None = Field(
        default=None,
        description="AWS region it deploys to, one of the account's allowed regions; "
        "empty means the account's default region.",
    )
    production_reviewers: int = Field(
        default=1,
        ge=1,
        le=6,
        description=(
            "How many reviewers the production environment lists (GitHub allows 1 to 6; "
            "one approval suffices): the owning team first, then the service's change "
            "approver, owner and on-call contact, each once."
        ),
    )

    @field_validator("service")
    @classmethod
    def _service_follows_policy(cls, value: str) -> str:
        return policy.validate_name(value, what="service name")
