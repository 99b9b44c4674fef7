"""`service:decommission` — after the change approver's approval, remove a service's
resources in reverse dependency order and retire it, keeping its registry history.

What is already gone is ignored, so a decommission that failed half-way is re-run and
finishes. The GitHub repository is archived, not deleted. Active access grants to the
service are marked revoked. Nothing is deleted from the registry: resources and the
service end `retired`, with the journal saying who asked and who approved.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, Field

from flows.engine.approval import request_approval
from flows.engine.context import load_service_context
from flows.engine.resource_removal import (
    Providers,
    RemovableResource,
    not_ours,
    removal_order,
    remove,
)
from flows.engine.runtime import journaled, owning_team, service_run_name
from flows.engine.session import registry_session
from flows.request_models.service_decommission import DecommissionRequest
from registry import policy, queries
from registry.errors import Conflict
from registry.models import GrantStatus, ResourceStatus, ServiceStatus

__all__ = ["ACTION", "DecommissionRequest", "DecommissionResult", "service_decommission"]

ACTION = "service:decommission"
_DONE = (ResourceStatus.RETIRED,)


class RemovedResource(BaseModel):
    """One resource's fate."""

    kind: str = Field(description="Registry kind.")
    name: str = Field(description="Policy name.")
    outcome: str = Field(description="removed, already gone, kept (archived/shared) or failed.")
    error: str | None = Field(default=None, description="Why it failed, when it did.")


class DecommissionResult(BaseModel):
    """What the run removed."""

    service: str = Field(description="The service.")
    approver: str | None = Field(description="Who approved; None in a dry run.")
    resources: list[RemovedResource] = Field(description="Every resource, in removal order.")
    revoked_grants: int = Field(description="Access grants marked revoked.")
    dry_run: bool = Field(description="True when nothing was touched.")


@task(name="registry: resources to remove", cache_policy=NO_CACHE)
def resources_to_remove(*, service: str) -> list[RemovableResource]:
    """The service's resources not yet retired, in removal order."""
    with registry_session() as session:
        rows = queries.find_resources(session, service=service)
        # Each with the region it was made in: removal happens there.
        return removal_order(RemovableResource.of(row) for row in rows if row.status not in _DONE)


@task(name="registry: set resource status", cache_policy=NO_CACHE)
def set_resource_status(
    resource: RemovableResource, *, service: str, status: ResourceStatus, error: str | None
) -> None:
    """Record where one resource stands in the decommission."""
    with registry_session() as session:
        queries.upsert_resource(
            session,
            service=service,
            provider=resource.provider,
            kind=resource.kind,
            name=resource.name,
            status=status,
            error=error,
        )


@task(name="registry: retire service", cache_policy=NO_CACHE)
def retire_service(*, service: str) -> int:
    """Mark the service retired and its active grants revoked; returns how many grants."""
    now = datetime.now(UTC)
    with registry_session() as session:
        grants = queries.find_grants(session, service=service, status=GrantStatus.ACTIVE)
        for grant in grants:
            grant.status = GrantStatus.REVOKED
            grant.revoked_at = now
        queries.set_service_status(session, name=service, status=ServiceStatus.RETIRED)
        return len(grants)


@flow(
    name="service-decommission",
    flow_run_name=service_run_name("decommission"),
    description="service:decommission: remove a service's resources after approval.",
    validate_parameters=True,
)
def service_decommission(request: DecommissionRequest) -> DecommissionResult:
    """Decommission `request.service`."""
    logger = get_run_logger()
    with journaled(
        action=ACTION, request=request, team=owning_team(request.service), service=request.service
    ) as journal:
        context = load_service_context(service=request.service, requester=request.requester)
        with registry_session() as session:
            if (
                queries.require_service(session, name=request.service).status
                == ServiceStatus.RETIRED
            ):
                raise Conflict(f"service {request.service!r} is already retired")
        plan = resources_to_remove(service=request.service)
        summary = _plan_markdown(request, plan)
        if request.dry_run:
            logger.info(summary)
            create_markdown_artifact(
                markdown=summary, key=f"plan-decommission-{request.service}", description="Dry run"
            )
            return DecommissionResult(
                service=request.service,
                approver=None,
                resources=[
                    RemovedResource(kind=r.kind, name=r.name, outcome="planned") for r in plan
                ],
                revoked_grants=0,
                dry_run=True,
            )
        approval = request_approval(
            context=context,
            action=ACTION,
            summary=summary,
            timeout_seconds=request.approval_timeout_seconds,
        )
        with registry_session() as session:
            queries.claim(
                session,
                key=f"service:{request.service}",
                holder=journal.flow_run_id,
                action=ACTION,
            )
        try:
            outcomes = _remove_all(request.service, plan)
            failed = [outcome for outcome in outcomes if outcome.outcome == "failed"]
            if failed:
                raise RuntimeError(
                    f"{len(failed)} of {len(outcomes)} resources of {request.service} could not "
                    "be removed: "
                    + "; ".join(f"{f.kind} {f.name}: {f.error}" for f in failed)
                    + ". Re-run to retry them; what is gone stays gone."
                )
            revoked = retire_service(service=request.service)
        finally:
            with registry_session() as session:
                queries.release(
                    session, key=f"service:{request.service}", holder=journal.flow_run_id
                )
        result = DecommissionResult(
            service=request.service,
            approver=approval.approver,
            resources=outcomes,
            revoked_grants=revoked,
            dry_run=False,
        )
        create_markdown_artifact(
            markdown=_result_markdown(result),
            key=f"decommission-{request.service}",
            description=f"{ACTION} {request.service}",
        )
        return result


def _remove_all(service: str, plan: list[RemovableResource]) -> list[RemovedResource]:
    """Remove each resource, carrying on past failures so one stuck resource does not
    keep the rest alive; each outcome is in the registry as soon as it is known."""
    providers = Providers()
    outcomes: list[RemovedResource] = []
    for resource in plan:
        try:
            # A record of a resource an action refused to adopt: never delete another's.
            why_not = not_ours(resource, providers, service=service)
            if why_not is not None:
                set_resource_status(
                    resource, service=service, status=ResourceStatus.RETIRED, error=why_not
                )
                outcomes.append(
                    RemovedResource(
                        kind=resource.kind, name=resource.name, outcome="kept", error=why_not
                    )
                )
                continue
            set_resource_status(
                resource, service=service, status=ResourceStatus.RETIRING, error=None
            )
            removed = remove(resource, providers)
        except Exception as exc:
            set_resource_status(
                resource, service=service, status=ResourceStatus.FAILED, error=str(exc)
            )
            outcomes.append(
                RemovedResource(
                    kind=resource.kind, name=resource.name, outcome="failed", error=str(exc)
                )
            )
            continue
        set_resource_status(resource, service=service, status=ResourceStatus.RETIRED, error=None)
        kept = resource.kind in ("github_repository", "github_workflow")
        outcome = "archived" if kept else ("removed" if removed else "already gone")
        outcomes.append(RemovedResource(kind=resource.kind, name=resource.name, outcome=outcome))
    return outcomes


def _plan_markdown(request: DecommissionRequest, plan: list[RemovableResource]) -> str:
    rows = "\n".join(f"| {n} | {r.kind} | `{r.name}` |" for n, r in enumerate(plan, start=1))
    return (
        f"# Decommission {request.service}\n\n"
        f"Asked by `{request.requester}`:\n\n{policy.quoted_markdown(request.reason)}\n\n"
        "Removed in this order (the repository is archived, not deleted):\n\n"
        f"| # | kind | name |\n|---|---|---|\n{rows or '| - | nothing left | - |'}\n"
    )


def _result_markdown(result: DecommissionResult) -> str:
    rows = "\n".join(f"| {r.kind} | `{r.name}` | {r.outcome} |" for r in result.resources)
    return (
        f"# {result.service} is retired\n\n"
        f"Approved by `{result.approver}`; {result.revoked_grants} access grant(s) revoked.\n\n"
        f"| kind | name | outcome |\n|---|---|---|\n{rows}\n"
    )
