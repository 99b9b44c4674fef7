"""The existing service a day-2 action acts on: `ServiceContext`, read from the registry.

`load_service_context` checks the requester may act on it (an active member of its
team); `service_context` reads it for Paved's own runs (audits). Each opens its own
short session: on SQLite a session holds the write lock.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from flows.engine.session import registry_session
from registry import policy, queries

__all__ = ["ServiceContext", "load_service_context", "service_context"]


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
