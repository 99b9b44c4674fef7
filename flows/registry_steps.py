"""Registry steps every action takes, as tasks so each shows in the run's timeline.

write_ahead      the service and its resource as `provisioning`, before any provider call
record_failure   the resource `failed` with the error (and a new service `failed`)
record_active    the resource `active` with its provider id, then ownership and `active`

Each opens its own short session: on SQLite a session holds the write lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, Field

# The plan's types live with the engine; re-exported for the actions not yet on it.
from flows.engine.plan import PlannedResource, ResourceRef
from flows.runtime import registry_session
from registry import policy, queries
from registry.models import ResourceStatus, ServiceStatus

__all__ = [
    "PlannedResource",
    "ResourceRef",
    "ServiceContext",
    "failure_recorded",
    "load_service_context",
    "record_active",
    "record_failure",
    "service_context",
    "write_ahead",
]


class ServiceContext(BaseModel):
    """What a day-2 action needs to know about the existing service it acts on."""

    service: str = Field(description="Service name.")
    team: str = Field(description="Owning team's slug.")
    owner: str = Field(description="Accountable owner's handle.")
    cost_center: str = Field(description="Owning team's cost center.")
    change_approver: str | None = Field(description="Who approves changes.")
    oncall: str | None = Field(description="Who is paged.")
    tags: dict[str, str] = Field(description="The policy tags every resource of it carries.")


def load_service_context(*, service: str, requester: str) -> ServiceContext:
    """The service `service`, checked: it exists and `requester` is an active member of
    its team. Raises NotFound or NotAuthorized with a message for the developer."""
    with registry_session() as session:
        row = queries.require_service(session, name=service)
        queries.require_active_member(
            session, team=row.team.slug, handle=requester, role="requester"
        )
    return service_context(service=service)


def service_context(*, service: str) -> ServiceContext:
    """The service `service` as day-2 actions see it, with no requester check: for
    Paved's own runs (audits) that act on a service nobody in particular asked about."""
    with registry_session() as session:
        row = queries.require_service(session, name=service)
        return ServiceContext(
            service=row.name,
            team=row.team.slug,
            owner=row.owner.handle,
            cost_center=row.team.cost_center,
            change_approver=row.change_approver.handle if row.change_approver else None,
            oncall=row.oncall.handle if row.oncall else None,
            tags=policy.policy_tags(
                service=row.name,
                team=row.team.slug,
                owner=row.owner.handle,
                cost_center=row.team.cost_center,
            ),
        )


@task(name="registry: write ahead", cache_policy=NO_CACHE)
def write_ahead(
    ref: ResourceRef,
    *,
    team: str,
    owner: str,
    description: str,
    spec: dict[str, Any],
    tags: dict[str, str],
) -> None:
    """Record the intent: the service (new ones `provisioning`) and the resource."""
    with registry_session() as session:
        queries.get_or_create_service(
            session, name=ref.service, team=team, owner=owner, description=description
        )
        queries.upsert_resource(
            session,
            service=ref.service,
            provider=ref.provider,
            kind=ref.kind,
            name=ref.name,
            spec=spec,
            tags=tags,
            status=ResourceStatus.PROVISIONING,
        )


@task(name="registry: record failure", cache_policy=NO_CACHE)
def record_failure(ref: ResourceRef, *, error: str) -> None:
    """Mark the resource failed with `error`; a service never active becomes failed too."""
    with registry_session() as session:
        queries.upsert_resource(
            session,
            service=ref.service,
            provider=ref.provider,
            kind=ref.kind,
            name=ref.name,
            status=ResourceStatus.FAILED,
            error=error,
        )
        service = queries.require_service(session, name=ref.service)
        if service.status == ServiceStatus.PROVISIONING:
            queries.set_service_status(session, name=ref.service, status=ServiceStatus.FAILED)


@contextmanager
def failure_recorded(*refs: ResourceRef) -> Iterator[None]:
    """Around a provider call: on failure, mark `refs` failed with the error, then let
    the error fail the run (the registry knows what broke before the run ends)."""
    try:
        yield
    except Exception as exc:
        for ref in refs:
            record_failure(ref, error=str(exc))
        raise


@task(name="registry: write ownership", cache_policy=NO_CACHE)
def record_active(
    ref: ResourceRef,
    *,
    team: str,
    owner: str,
    external_id: str,
    url: str | None,
    spec: dict[str, Any],
    tags: dict[str, str],
) -> None:
    """The final step: the resource active with its provider id, the service owned and active.

    The accountable owner and team come from the request; the change approver, on-call
    contact and cost watcher keep what the registry holds (team lead, owner, team lead
    for a new service), since only service:transfer moves them.
    """
    with registry_session() as session:
        queries.upsert_resource(
            session,
            service=ref.service,
            provider=ref.provider,
            kind=ref.kind,
            name=ref.name,
            external_id=external_id,
            url=url,
            spec=spec,
            tags=tags,
            status=ResourceStatus.ACTIVE,
            error=None,
        )
        service = queries.require_service(session, name=ref.service)
        queries.set_ownership(
            session,
            service=ref.service,
            owner=owner,
            team=team,
            change_approver=service.change_approver.handle if service.change_approver else None,
            oncall=service.oncall.handle if service.oncall else None,
            cost_watcher=service.cost_watcher.handle if service.cost_watcher else None,
        )
        queries.set_service_status(session, name=ref.service, status=ServiceStatus.ACTIVE)
