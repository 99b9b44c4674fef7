"""Listings, orphans and a person's departure: questions answered from the registry.

Every answer is a small frozen dataclass of handles and strings, not ORM rows, so that
callers (the CLI, flows, exports) can print or serialize it after the session is gone.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from uuid import UUID, uuid4

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, aliased

from registry._support import normalize_handle, require_text
from registry.journal import append_journal
from registry.models import (
    Person,
    Resource,
    ResourceStatus,
    Service,
    ServiceStatus,
    Team,
    TeamMembership,
    utc_now,
)
from registry.people import require_person
from registry.services import find_resources, service_loader_options

__all__ = [
    "DEACTIVATE_ACTION",
    "DeactivationReport",
    "Orphan",
    "Reassignment",
    "ResourceRow",
    "ServiceRow",
    "deactivate_person",
    "list_resources",
    "list_services",
    "orphans",
]

DEACTIVATE_ACTION = "people:deactivate"

# Why a service or resource has no active accountable owner (Orphan.reason).
OWNER_DEACTIVATED = "owner deactivated"
TEAM_WITHOUT_LEAD = "team has no lead"
TEAM_LEAD_INACTIVE = "team lead inactive"
NO_SERVICE = "resource has no service"


@dataclass(frozen=True)
class ServiceRow:
    """A service and the handles of the people who answer for it."""

    name: str
    team: str
    team_lead: str | None
    owner: str
    owner_active: bool
    change_approver: str | None
    oncall: str | None
    cost_watcher: str | None
    status: str
    lifecycle: str


@dataclass(frozen=True)
class ResourceRow:
    """A resource, its natural key, and the service, team and owner it belongs to."""

    provider: str
    kind: str
    name: str
    external_id: str | None
    url: str | None
    status: str
    service: str | None
    team: str | None
    owner: str | None


@dataclass(frozen=True)
class Orphan:
    """A service or resource without an active accountable owner, and why.

    A service may appear once per reason. ``resources`` counts a service's live
    resources, which are orphaned with it (they are not listed one by one).
    """

    subject: Literal["service", "resource"]
    name: str
    reason: str
    service: str | None
    team: str | None
    owner: str | None
    provider: str | None = None
    resource_kind: str | None = None
    resources: int = 0


@dataclass(frozen=True)
class Reassignment:
    """A role a departing person held that needs a new person.

    ``role`` is owner, change_approver, oncall or cost_watcher of the service
    ``subject``, or ``team lead`` of the team ``subject``. ``suggested`` is the team's
    active lead, None when the lead is the departing person or there is none.
    """

    role: str
    subject: str
    team: str
    suggested: str | None


@dataclass(frozen=True)
class DeactivationReport:
    """What ``deactivate_person`` did and what now needs a new person."""

    handle: str
    deactivated_at: datetime
    was_active: bool
    flow_run_id: str
    needs_new_person: list[Reassignment] = field(default_factory=list)


# --- listings -----------------------------------------------------------------------


def _handle(person: Person | None) -> str | None:
    return person.handle if person is not None else None


def _service_row(service: Service) -> ServiceRow:
    return ServiceRow(
        name=service.name,
        team=service.team.slug,
        team_lead=_handle(service.team.lead),
        owner=service.owner.handle,
        owner_active=service.owner.active,
        change_approver=_handle(service.change_approver),
        oncall=_handle(service.oncall),
        cost_watcher=_handle(service.cost_watcher),
        status=service.status.value,
        lifecycle=service.lifecycle.value,
    )


def list_services(
    session: Session, *, team: str | None = None, owner: str | None = None
) -> list[ServiceRow]:
    """Services of ``team`` and/or owned by ``owner`` (a handle), sorted by name."""
    statement = select(Service).options(*service_loader_options())
    if team is not None:
        statement = statement.where(Service.team_id.in_(select(Team.id).where(Team.slug == team)))
    if owner is not None:
        statement = statement.where(
            Service.owner_id.in_(select(Person.id).where(Person.handle == normalize_handle(owner)))
        )
    return [_service_row(service) for service in session.scalars(statement.order_by(Service.name))]


def list_resources(
    session: Session,
    *,
    service: str | None = None,
    team: str | None = None,
    owner: str | None = None,
    kind: str | None = None,
    status: ResourceStatus | str | None = None,
) -> list[ResourceRow]:
    """Resources matching every filter given, by provider, kind and name.

    ``team`` and ``owner`` are those of the resource's service; orphans only appear
    when none of service, team and owner is given. PolicyViolation for an unknown status.
    """
    return [
        ResourceRow(
            provider=resource.provider.value,
            kind=resource.kind,
            name=resource.name,
            external_id=resource.external_id,
            url=resource.url,
            status=resource.status.value,
            service=resource.service.name if resource.service else None,
            team=resource.service.team.slug if resource.service else None,
            owner=resource.service.owner.handle if resource.service else None,
        )
        for resource in find_resources(
            session, service=service, team=team, owner=owner, kind=kind, status=status
        )
    ]


# --- orphans ------------------------------------------------------------------------


def orphans(session: Session) -> list[Orphan]:
    """Services and resources without an active accountable owner, with the reason.

    A service is listed when its owner is deactivated, when its team has no lead, or
    when the lead is deactivated; a resource when no service claims it. Retired
    services and retired resources are left out: nobody needs to answer for them.
    """
    lead = aliased(Person)
    live_resources = (
        select(Resource.service_id, func.count().label("count"))
        .where(Resource.status != ResourceStatus.RETIRED, Resource.service_id.is_not(None))
        .group_by(Resource.service_id)
        .subquery()
    )
    rows = session.execute(
        select(Service.name, Team.slug, Person.handle, Person.active, lead.id, lead.active)
        .add_columns(func.coalesce(live_resources.c.count, 0))
        .join(Team, Service.team_id == Team.id)
        .join(Person, Service.owner_id == Person.id)
        .outerjoin(lead, Team.lead_id == lead.id)
        .outerjoin(live_resources, live_resources.c.service_id == Service.id)
        .where(
            Service.status != ServiceStatus.RETIRED,
            or_(Person.active.is_(False), lead.id.is_(None), lead.active.is_(False)),
        )
        .order_by(Service.name)
    ).all()
    found: list[Orphan] = []
    for name, team, owner, owner_active, lead_id, lead_active, count in rows:
        reasons = []
        if not owner_active:
            reasons.append(OWNER_DEACTIVATED)
        if lead_id is None:
            reasons.append(TEAM_WITHOUT_LEAD)
        elif not lead_active:
            reasons.append(TEAM_LEAD_INACTIVE)
        found.extend(
            Orphan(
                subject="service",
                name=name,
                reason=reason,
                service=name,
                team=team,
                owner=owner,
                resources=count,
            )
            for reason in reasons
        )
    for resource in session.scalars(
        select(Resource)
        .where(Resource.service_id.is_(None), Resource.status != ResourceStatus.RETIRED)
        .order_by(Resource.provider, Resource.kind, Resource.name)
    ):
        found.append(
            Orphan(
                subject="resource",
                name=resource.name,
                reason=NO_SERVICE,
                service=None,
                team=None,
                owner=None,
                provider=resource.provider.value,
                resource_kind=resource.kind,
            )
        )
    return found


# --- a person leaves ----------------------------------------------------------------

_SERVICE_ROLES = ("owner", "change_approver", "oncall", "cost_watcher")


def deactivate_person(
    session: Session,
    *,
    handle: str,
    requester: str,
    journal_flow_run_id: str | UUID | None = None,
) -> DeactivationReport:
    """Mark ``handle`` as gone and list every role they held that needs a new person.

    The person becomes inactive (``deactivated_at`` is kept if they already were).
    Ownership does not move here (only ``service:transfer`` moves it): the report names,
    for each service role and each team they lead, the team's active lead as the
    suggested replacement, or None when that lead is the person themself. The change is
    journaled as ``people:deactivate`` (Completed) under ``journal_flow_run_id``, a new
    id if not given. NotFound for an unknown person.
    """
    require_text(requester, what="requester", max_length=255)
    person = require_person(session, handle=handle)
    was_active = person.active
    now = utc_now()
    if was_active:
        person.active = False
        person.deactivated_at = now
    deactivated_at = person.deactivated_at or now

    def suggestion(lead: Person | None) -> str | None:
        if lead is None or lead.id == person.id or not lead.active:
            return None
        return lead.handle

    needs: list[Reassignment] = []
    services = session.scalars(
        select(Service)
        .options(*service_loader_options())
        .where(
            or_(
                Service.owner_id == person.id,
                Service.change_approver_id == person.id,
                Service.oncall_id == person.id,
                Service.cost_watcher_id == person.id,
            )
        )
        .order_by(Service.name)
    )
    for service in services:
        for role in _SERVICE_ROLES:
            if getattr(service, f"{role}_id") == person.id:
                needs.append(
                    Reassignment(
                        role=role,
                        subject=service.name,
                        team=service.team.slug,
                        suggested=suggestion(service.team.lead),
                    )
                )
    teams_led = session.scalars(select(Team).where(Team.lead_id == person.id).order_by(Team.slug))
    needs.extend(
        Reassignment(role="team lead", subject=team.slug, team=team.slug, suggested=None)
        for team in teams_led
    )

    teams = session.scalars(
        select(Team.slug)
        .join(TeamMembership, TeamMembership.team_id == Team.id)
        .where(TeamMembership.person_id == person.id)
        .order_by(Team.slug)
    ).all()
    flow_run_id = str(journal_flow_run_id or uuid4())
    roles: defaultdict[str, list[str]] = defaultdict(list)
    for need in needs:
        roles[need.role].append(need.subject)
    append_journal(
        session,
        flow_run_id=flow_run_id,
        action=DEACTIVATE_ACTION,
        requester=requester,
        team=",".join(teams),
        service="",
        parameters={"handle": person.handle, "was_active": was_active, "needs": dict(roles)},
        state="Completed",
        started_at=now,
        ended_at=utc_now(),
    )
    session.flush()
    return DeactivationReport(
        handle=person.handle,
        deactivated_at=deactivated_at,
        was_active=was_active,
        flow_run_id=flow_run_id,
        needs_new_person=needs,
    )
