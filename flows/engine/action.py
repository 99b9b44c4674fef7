"""What every action on the engine shares besides plan and apply: the region check of
AWS actions, the dry run as an artifact, and the created/unchanged/changes summary of a
result."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel, Field

from blocks import AWS_BLOCK, AwsAccount, load_block
from flows.engine.apply import Applied, Ensure, apply_plan
from flows.engine.context import ServiceContext, load_service_context
from flows.engine.plan import Plan, PlannedResource, render
from flows.engine.request import PavedRequest
from flows.engine.runtime import journaled, owning_team
from registry.errors import PolicyViolation

__all__ = [
    "AwsRun",
    "Outcomes",
    "Summary",
    "allowed_region",
    "apply_or_dry_run",
    "aws_service_run",
    "dry_run",
    "made",
    "resource_rows",
]


def allowed_region(region: str | None, account: AwsAccount) -> str:
    """`region` (None: the account's default) if the account allows it, else
    PolicyViolation naming the allowed ones. Checked before any AWS call."""
    region = region or account.region
    if region not in account.allowed_regions:
        allowed = ", ".join(account.allowed_regions)
        raise PolicyViolation(f"region {region!r} is not allowed; choose one of: {allowed}")
    return region


def dry_run(plan: Plan, context: ServiceContext, *, region: str, key: str) -> str:
    """Render the plan, log it and keep it as the run's artifact `key`; touches nothing."""
    markdown = render(
        plan, region=region, owner=context.owner, team=context.team, tags=context.tags
    )
    get_run_logger().info(markdown)
    create_markdown_artifact(markdown=markdown, key=key, description="Dry run")
    return markdown


Outcomes = list[tuple[PlannedResource, Applied | None]]


@dataclass(frozen=True)
class AwsRun:
    """What an AWS action on an existing service works with, checked."""

    flow_run_id: str
    context: ServiceContext
    account: AwsAccount
    region: str


@contextmanager
def aws_service_run(
    action: str, request: PavedRequest, *, service: str, region: str | None
) -> Iterator[AwsRun]:
    """Journal the run of `action` on the existing `service` and check it before any
    side effect: the service exists, the requester is in its team, the region is allowed."""
    with journaled(
        action=action, request=request, team=owning_team(service), service=service
    ) as run:
        context = load_service_context(service=service, requester=request.requester)
        account = load_block(AwsAccount, AWS_BLOCK)
        yield AwsRun(run.flow_run_id, context, account, allowed_region(region, account))


def apply_or_dry_run(
    plan: Plan,
    context: ServiceContext,
    *,
    region: str,
    ensure: Mapping[str, Ensure],
    flow_run_id: str,
    dry: bool,
    key: str,
) -> Outcomes:
    """Apply `plan`, or with `dry` render it as the artifact `key` and touch nothing; each
    planned resource with its outcome (None throughout a dry run), in plan order."""
    if dry:
        dry_run(plan, context, region=region, key=key)
        return [(item, None) for item in plan.resources]
    return list(apply_plan(plan, context=context, ensure=ensure, flow_run_id=flow_run_id))


def made(info: Any) -> dict[str, Any]:
    """`created` and `changes` of an ensure task's answer, for `Applied(...)`."""
    return {"created": info.created, "changes": list(info.changes)}


class Summary(BaseModel):
    """What a run did, by resource name."""

    created: list[str] = Field(description="Names of the resources this run created.")
    unchanged: list[str] = Field(description="Names of the resources already right.")
    changes: list[str] = Field(description="What this run changed.")
    dry_run: bool = Field(description="True when nothing was touched.")

    @classmethod
    def of(cls, outcomes: Sequence[tuple[PlannedResource, Applied | None]]) -> Summary:
        """From each planned resource's outcome (None throughout: a dry run)."""
        done = [(item, applied) for item, applied in outcomes if applied is not None]
        return cls(
            created=[item.ref.name for item, a in done if a.outcome == "created"],
            unchanged=[item.ref.name for item, a in done if a.outcome == "unchanged"],
            changes=[change for _, a in done for change in a.changes],
            dry_run=not done and bool(outcomes),
        )


def resource_rows(
    outcomes: Sequence[tuple[PlannedResource, Applied | None]], *, id_field: str = "external_id"
) -> list[dict[str, Any]]:
    """Each resource of a result: kind, name, provider id (under `id_field`), url and
    outcome (`planned` in a dry run), in plan order."""
    return [
        {
            "kind": item.ref.kind,
            "name": item.ref.name,
            id_field: done.external_id if done else "",
            "url": done.url if done else None,
            "outcome": done.outcome if done else "planned",
        }
        for item, done in outcomes
    ]
