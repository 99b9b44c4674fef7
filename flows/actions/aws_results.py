"""What the results of the AWS actions (aws:compute:create, aws:storage:create) share:
the service's identity and region, the engine's created/unchanged/changes/dry-run
summary, and one row per resource.

The two results differ only in what each adds (the compute's cluster and image) and in
the name of a row's provider id (`external_id` for compute, `arn` for storage, names
their consumers already read), so each row model adds that one field to `AwsResourceRow`
and `aws_result_fields` fills the rest of either result from the engine's outcomes.
(`AwsResourceRow` would sit best beside `resource_rows` in `flows.engine.action`, which
builds its rows; it is here while the engine is out of this change's reach.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from flows.engine.action import Summary, resource_rows

if TYPE_CHECKING:
    from flows.engine.apply import Applied
    from flows.engine.context import ServiceContext
    from flows.engine.plan import PlannedResource

__all__ = ["AwsActionResult", "AwsResourceRow", "aws_result_fields"]


class AwsResourceRow(BaseModel):
    """One resource the run made sure of (`flows.engine.action.resource_rows` builds it)."""

    kind: str = Field(description="Registry kind, e.g. ecs_service or s3_bucket.")
    name: str = Field(description="Policy name.")
    url: str | None = Field(
        default=None, description="repositoryUri of a repository, URL of a queue; else empty."
    )
    outcome: str = Field(description="created, updated or unchanged (planned in a dry run).")


class AwsActionResult(Summary):
    """What an AWS action's run created or found: the summary's created, unchanged,
    changes and dry_run, for this service in this region."""

    service: str = Field(description="The service the resources belong to.")
    team: str = Field(description="Owning team.")
    owner: str = Field(description="Accountable owner.")
    region: str = Field(description="AWS region.")


def aws_result_fields(
    context: ServiceContext,
    region: str,
    outcomes: Sequence[tuple[PlannedResource, Applied | None]],
    *,
    row: type[AwsResourceRow],
    id_field: str,
) -> dict[str, Any]:
    """The fields of an `AwsActionResult` (rows of type `row`, the provider id under
    `id_field`) from each planned resource's outcome (None throughout: a dry run)."""
    return {
        "service": context.service,
        "team": context.team,
        "owner": context.owner,
        "region": region,
        "resources": [row(**fields) for fields in resource_rows(outcomes, id_field=id_field)],
        **Summary.of(outcomes).model_dump(),
    }
