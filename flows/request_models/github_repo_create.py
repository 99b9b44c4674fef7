"""The request of `github:repo:create` (flows.actions.github_repo_create)."""

from __future__ import annotations

from pydantic import Field, field_validator

from flows.engine.request import PavedRequest
from registry import policy

__all__ = ["RepoCreateRequest"]


class RepoCreateRequest(PavedRequest):
    """Create a GitHub repository for a service from the organization's template."""

    name: str = Field(
        description=(
            "Repository name, also the service name: lowercase letters, digits and single "
            f"hyphens, starting with a letter, at most {policy.SERVICE_NAME_MAX} characters."
        ),
        examples=["orders"],
        json_schema_extra=policy.name_schema(max_length=policy.SERVICE_NAME_MAX),
    )
    team: str = Field(
        description="Slug of the team that owns the service, e.g. `payments`.",
        json_schema_extra=policy.name_schema(max_length=policy.TEAM_SLUG_MAX),
    )
    owner: str = Field(
        description="GitHub handle of the one person accountable for the service; a team member."
    )
    description: str = Field(default="", max_length=350, description="One line about the service.")
    private: bool = Field(default=True, description="Whether the repository is private.")
    template: str | None = Field(
        default=None,
        description="Template repository in the organization; empty means its default.",
    )

    @field_validator("name")
    @classmethod
    def _name_follows_policy(cls, value: str) -> str:
        return policy.validate_name(value, what="repository name")

    @field_validator("description")
    @classmethod
    def _description_is_one_line(cls, value: str) -> str:
        return policy.require_one_line(value, what="description", max_len=350)

    @field_validator("team")
    @classmethod
    def _team_follows_policy(cls, value: str) -> str:
        return policy.validate_name(value, what="team", max_length=policy.TEAM_SLUG_MAX)
