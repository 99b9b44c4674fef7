"""The requests of `access:grant` and `access:revoke` (flows.actions.access_grant): the
kinds of access, the permissions of each, and the permission string the registry holds."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from flows.engine.request import PavedRequest, one_line
from registry import policy

__all__ = [
    "PERMISSIONS",
    "AccessGrantRequest",
    "AccessKind",
    "AccessRequest",
    "AccessRevokeRequest",
    "Environment",
    "grant_permission",
]

AccessKind = Literal["github-team", "github-repository", "aws-iam", "kafka-acl"]
Environment = Literal["staging", "production"]

PERMISSIONS: dict[str, tuple[str, ...]] = {
    "github-team": ("member", "maintainer"),
    "github-repository": ("pull", "triage", "push", "maintain", "admin"),
    "aws-iam": ("read", "write"),
    "kafka-acl": ("read", "write"),
}


def grant_permission(*, kind: str, permission: str, environment: str) -> str:
    """The permission string the registry's access grants hold, e.g. `aws-iam:read@staging`."""
    return f"{kind}:{permission}@{environment}"


class AccessRequest(PavedRequest):
    service: str = Field(
        description="The existing service to give access to, e.g. `orders`.",
        json_schema_extra=policy.name_schema(max_length=policy.SERVICE_NAME_MAX),
    )
    person: str = Field(
        description="GitHub handle of the person; active in the registry, in any team."
    )
    kind: AccessKind = Field(
        description=(
            "What access: `github-team` (membership of the owning team), `github-repository` "
            "(direct permission on the service's repository), `aws-iam` (the service's S3, "
            "SQS, DynamoDB resources), `kafka-acl` (the service's topics)."
        )
    )
    permission: str = Field(
        description=(
            "github-team: member | maintainer; github-repository: pull | triage | push | "
            "maintain | admin; aws-iam and kafka-acl: read | write."
        )
    )
    environment: Environment = Field(
        default="staging", description="Environment; production always needs approval."
    )
    reason: Annotated[str, one_line("reason", max_len=500)] = Field(
        min_length=10, max_length=500, description="Why the access is needed (journaled)."
    )

    @model_validator(mode="after")
    def _permission_fits_kind(self) -> AccessRequest:
        allowed = PERMISSIONS[self.kind]
        if self.permission not in allowed:
            raise ValueError(
                f"permission {self.permission!r} is not one of {', '.join(allowed)} "
                f"for kind {self.kind}"
            )
        return self

    @property
    def grant_permission(self) -> str:
        return grant_permission(
            kind=self.kind, permission=self.permission, environment=self.environment
        )


class AccessGrantRequest(AccessRequest):
    """Give a person access to one service's repository, team, AWS resources or topics."""

    expires_in_days: int | None = Field(
        default=None, ge=1, le=90, description="Days until the grant expires; empty: no expiry."
    )


class AccessRevokeRequest(AccessRequest):
    """Take a person's access to one service away (what is already gone is fine)."""
