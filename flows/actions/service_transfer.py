"""`service:transfer` — a new accountable owner, owning team, change approver, on-call
contact or cost watcher.

Ownership moves only through this action. It validates the new people first (the change
approver an active member of the owning team, the others active), waits for the
approval of the current change approver (flows.engine.approval: the team lead or an admin when
that is the requester), then brings the providers in line (policy tags on every AWS
resource; for a new team, CODEOWNERS, the team's `maintain` permission, the old team's
removal, the repository's team topic and the production environment's reviewers), and
writes the new ownership into the registry last, with the new tags on every resource.
The journal records who asked and why.
"""

from __future__ import annotations

import os

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, Field

from blocks import AWS_BLOCK, GITHUB_BLOCK, AwsAccount, GitHubOrganization, load_block
from flows.actions.github_repo_create import TEAM_PERMISSION, codeowners_file
from flows.engine.approval import request_approval
from flows.engine.context import ServiceContext, load_service_context
from flows.engine.runtime import journaled, owning_team, service_run_name
from flows.engine.session import registry_session
from flows.request_models.service_transfer import TransferRequest
from registry import policy, queries
from registry.errors import PolicyViolation
from registry.models import Provider, ResourceStatus
from tasks.aws.tagging import retag
from tasks.github import EnvironmentSpec, ensure_environment, ensure_file, ensure_team_permission
from tasks.github_lifecycle import remove_team_permission, replace_topic

__all__ = ["ACTION", "TransferRequest", "TransferResult", "service_transfer"]

ACTION = "service:transfer"
_LIVE = (ResourceStatus.ACTIVE, ResourceStatus.PROVISIONING, ResourceStatus.FAILED)


class TransferResult(BaseModel):
    """Who answers for the service now, and what changed."""

    service: str = Field(description="The service.")
    owner: str = Field(description="Accountable owner now.")
    team: str = Field(description="Owning team now.")
    previous_owner: str = Field(description="Accountable owner before.")
    previous_team: str = Field(description="Owning team before.")
    change_approver: str | None = Field(description="Change approver now.")
    oncall: str | None = Field(description="On-call contact now.")
    cost_watcher: str | None = Field(description="Cost watcher now.")
    approver: str | None = Field(description="Who approved the transfer; None for a dry run.")
    changes: list[str] = Field(description="What this run changed at the providers.")
    dry_run: bool = Field(description="True when nothing was touched.")


def _handle(value: str | None) -> str | None:
    return value.strip().lower() or None if value else None


class _Plan(BaseModel):
    before: ServiceContext
    owner: str
    team: str
    change_approver: str | None
    oncall: str | None
    cost_watcher: str | None
    tags: dict[str, str]
    resources: list[tuple[str, str, str, str | None]]  # provider, kind, name, external id


def _plan(request: TransferRequest) -> _Plan:
    """Every check before any change: who the new people are and that they may own it."""
    before = load_service_context(service=request.service, requester=request.requester)
    team = request.new_team or before.team
    owner = _handle(request.new_owner) or before.owner
    with registry_session() as session:
        new_team = queries.require_team(session, slug=team)
        queries.require_active_member(session, team=team, handle=owner, role="new owner")
        service = queries.require_service(session, name=request.service)
        lead = new_team.lead.handle if new_team.lead is not None else owner
        moved = team != before.team
        # A new team brings its own approver and cost watcher; the pager follows the owner
        # when it was the owner's. What the request names wins.
        change_approver = _handle(request.new_change_approver) or (
            lead if moved else before.change_approver
        )
        oncall = _handle(request.new_oncall) or (
            owner if before.oncall in (None, before.owner) else before.oncall
        )
        cost_watcher = _handle(request.new_cost_watcher) or (
            lead if moved or service.cost_watcher is None else service.cost_watcher.handle
        )
        previous_cost_watcher = service.cost_watcher.handle if service.cost_watcher else None
        if (owner, team, change_approver, oncall, cost_watcher) == (
            before.owner,
            before.team,
            before.change_approver,
            before.oncall,
            previous_cost_watcher,
        ):
            raise PolicyViolation(
                f"{request.service} already has owner {owner!r} in team {team!r}, change "
                f"approver {change_approver!r}, on-call {oncall!r} and cost watcher "
                f"{cost_watcher!r}: nothing to transfer"
            )
        if change_approver is not None:
            queries.require_active_member(
                session, team=team, handle=change_approver, role="change approver"
            )
        for role, handle in (("on-call", oncall), ("cost watcher", cost_watcher)):
            if handle is not None:
                queries.require_active_person(session, handle=handle, role=role)
        resources = [
            (str(r.provider), r.kind, r.name, r.external_id)
            for r in queries.find_resources(session, service=request.service)
            if r.status in _LIVE
        ]
        cost_center = new_team.cost_center
    return _Plan(
        before=before,
        owner=owner,
        team=team,
        change_approver=change_approver,
        oncall=oncall,
        cost_watcher=cost_watcher,
        tags=policy.policy_tags(
            service=request.service, team=team, owner=owner, cost_center=cost_center
        ),
        resources=resources,
    )


@task(name="registry: write new ownership", cache_policy=NO_CACHE)
def write_transfer(plan: _Plan) -> None:
    """The new tags on every resource, then the new ownership."""
    service = plan.before.service
    with registry_session() as session:
        for provider, kind, name, _ in plan.resources:
            resource = queries.get_resource(session, provider=provider, kind=kind, name=name)
            assert resource is not None
            queries.upsert_resource(
                session,
                service=service,
                provider=provider,
                kind=kind,
                name=name,
                tags=plan.tags,
                status=resource.status,
                error=resource.error,
            )
        queries.set_ownership(
            session,
            service=service,
            owner=plan.owner,
            team=plan.team,
            change_approver=plan.change_approver,
            oncall=plan.oncall,
            cost_watcher=plan.cost_watcher,
        )


@flow(
    name="service-transfer",
    flow_run_name=service_run_name("transfer"),
    description="service:transfer: a new accountable owner and/or owning team.",
    validate_parameters=True,
)
def service_transfer(request: TransferRequest) -> TransferResult:
    """Transfer `request.service`."""
    with journaled(
        action=ACTION, request=request, team=owning_team(request.service), service=request.service
    ):
        plan = _plan(request)
        if request.dry_run:
            return _result(request, plan, changes=_planned(plan), dry_run=True, approver=None)
        approval = request_approval(
            context=plan.before,
            action=ACTION,
            summary=(
                f"transfer {request.service}: {_moves(plan)}, asked by {request.requester}: "
                f"“{policy.escape_markdown(request.reason, 200)}”"
            ),
            timeout_seconds=request.approval_timeout_seconds,
            poll_interval_seconds=float(os.environ.get("PAVED_APPROVAL_POLL_SECONDS", "2")),
        )
        changes = _retag_aws(plan) + _move_github(plan)
        write_transfer(plan)
        result = _result(request, plan, changes=changes, dry_run=False, approver=approval.approver)
        get_run_logger().info("Transferred %s: %s", request.service, changes)
        return result


def _retag_aws(plan: _Plan) -> list[str]:
    aws = [
        (kind, external_id or name)
        for provider, kind, name, external_id in plan.resources
        if provider == Provider.AWS and kind in _AWS_TAGGED
    ]
    if not aws:
        return []
    return retag(load_block(AwsAccount, AWS_BLOCK), resources=aws, tags=plan.tags)


# AWS kinds whose tags retag() maintains.
_AWS_TAGGED = {
    "s3_bucket",
    "sqs_queue",
    "dynamodb_table",
    "ecr_repository",
    "cloudwatch_log_group",
    "ecs_task_definition",
    "ecs_service",
}


def _move_github(plan: _Plan) -> list[str]:
    """For a new team: CODEOWNERS, team permissions, topic, production reviewers."""
    old, new = plan.before.team, plan.team
    if old == new:
        return []
    github = load_block(GitHubOrganization, GITHUB_BLOCK)
    changes: list[str] = []
    # The repository first: environment reviewers must already have access to it.
    github_resources = sorted(
        (r for r in plan.resources if r[0] == Provider.GITHUB),
        key=lambda r: r[1] != "github_repository",
    )
    for _, kind, name, _ in github_resources:
        if kind == "github_repository":
            repo = name
            if ensure_file(
                github,
                full_name=repo,
                path="CODEOWNERS",
                content=codeowners_file(github.organization, new),
                branch=github.default_branch,
                message=f"Paved: {new} owns {plan.before.service} (service:transfer)",
            ):
                changes.append(f"CODEOWNERS of {repo} names @{github.organization}/{new}")
            if ensure_team_permission(github, team=new, full_name=repo, permission=TEAM_PERMISSION):
                changes.append(f"team {new} has {TEAM_PERMISSION} on {repo}")
            if remove_team_permission(github, team=old, full_name=repo):
                changes.append(f"team {old} no longer has access to {repo}")
            if replace_topic(github, full_name=repo, old=old, new=new):
                changes.append(f"topic {old} replaced by {new} on {repo}")
        elif kind == "github_environment" and name.endswith(":production"):
            repo, _, environment = name.partition(":")
            spec = EnvironmentSpec(
                name=environment, reviewer_teams=[new], protected_branches_only=True
            )
            if ensure_environment(github, full_name=repo, spec=spec):
                changes.append(f"{environment} deploys of {repo} need a review by {new}")
    return changes


def _planned(plan: _Plan) -> list[str]:
    lines = [f"tag {kind} {name} with {plan.tags}" for _, kind, name, _ in plan.resources]
    if plan.team != plan.before.team:
        lines.append(
            f"move repository permissions and CODEOWNERS from {plan.before.team} to {plan.team}"
        )
    return lines


def _moves(plan: _Plan) -> str:
    """What changes hands, e.g. `owner carol -> bob, team payments -> platform`."""
    before = {
        "owner": plan.before.owner,
        "team": plan.before.team,
        "change approver": plan.before.change_approver,
        "on-call": plan.before.oncall,
    }
    after = {
        "owner": plan.owner,
        "team": plan.team,
        "change approver": plan.change_approver,
        "on-call": plan.oncall,
    }
    moves = [
        f"{role} {before[role]} -> {after[role]}" for role in after if before[role] != after[role]
    ]
    return ", ".join(moves) + f"; cost watcher {plan.cost_watcher}"


def _result(
    request: TransferRequest,
    plan: _Plan,
    *,
    changes: list[str],
    dry_run: bool,
    approver: str | None,
) -> TransferResult:
    result = TransferResult(
        service=request.service,
        owner=plan.owner,
        team=plan.team,
        previous_owner=plan.before.owner,
        previous_team=plan.before.team,
        change_approver=plan.change_approver,
        oncall=plan.oncall,
        cost_watcher=plan.cost_watcher,
        approver=approver,
        changes=changes,
        dry_run=dry_run,
    )
    heading = "Dry run: " if dry_run else ""
    body = "\n".join(f"- {change}" for change in changes) or "- nothing to change at the providers"
    markdown = (
        f"# {heading}{request.service}: {plan.before.owner}/{plan.before.team} -> "
        f"{plan.owner}/{plan.team}\n\nReason:\n\n{policy.quoted_markdown(request.reason)}\n\n"
        f"Change approver `{plan.change_approver}`, on-call `{plan.oncall}`, "
        f"cost watcher `{plan.cost_watcher}`.\n\n{body}\n"
    )
    get_run_logger().info(markdown)
    create_markdown_artifact(
        markdown=markdown,
        key=f"{'plan-' if dry_run else ''}transfer-{request.service}",
        description=ACTION,
    )
    return result
