"""Services and the resources providers hold for them.

Query functions take the session first and keyword arguments after it, flush what they
write and never commit: the caller's ``session_scope`` decides. Services and resources
come back with their team and accountable people loaded (relationships are
``lazy="raise"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, aliased, joinedload
from sqlalchemy.orm.interfaces import LoaderOption

from registry._support import add_unique, coerce_enum, normalize_handle, require_text
from registry.errors import Conflict, NotFound
from registry.models import (
    Lifecycle,
    Person,
    Provider,
    Resource,
    ResourceStatus,
    Service,
    ServiceStatus,
    Team,
)
from registry.outbox import record_event
from registry.people import require_active_person, require_team
from registry.policy import SERVICE_NAME_MAX, validate_name

__all__ = [
    "find_resources",
    "get_or_create_service",
    "get_resource",
    "get_service",
    "require_service",
    "service_loader_options",
    "set_ownership",
    "set_service_status",
    "settle_unfinished",
    "upsert_resource",
]

# --- services -----------------------------------------------------------------------


def service_loader_options() -> list[LoaderOption]:
    """Load options giving a Service its team (and lead) and every accountable person."""
    return [
        joinedload(Service.team).joinedload(Team.lead),
        joinedload(Service.owner),
        joinedload(Service.change_approver),
        joinedload(Service.oncall),
        joinedload(Service.cost_watcher),
    ]


def _select_service() -> Select[Service]:
    return select(Service).options(*service_loader_options())


def get_service(session: Session, *, name: str) -> Service | None:
    """The service with this name, with team and people loaded, or None."""
    return session.scalars(_select_service().where(Service.name == name)).one_or_none()


def require_service(session: Session, *, name: str) -> Service:
    """The service with this name; NotFound if there is none."""
    service = get_service(session, name=name)
    if service is None:
        raise NotFound(f"no service {name!r} in the registry")
    return service


def get_or_create_service(
    session: Session,
    *,
    name: str,
    team: str,
    owner: str,
    change_approver: str | None = None,
    oncall: str | None = None,
    cost_watcher: str | None = None,
    description: str = "",
    lifecycle: Lifecycle | str = Lifecycle.EXPERIMENTAL,
) -> Service:
    """The service ``name`` of ``team``, created with status ``provisioning`` if new.

    An existing service of the same team is returned unchanged (ownership is written by
    ``set_ownership`` at the end of an action). Conflict if it belongs to another team.
    Defaults: change approver and cost watcher are the team lead, on-call is the owner.
    """
    validate_name(name, what="service name", max_length=SERVICE_NAME_MAX)
    team_row = require_team(session, slug=team)
    existing = get_service(session, name=name)
    if existing is not None:
        _check_same_team(existing, team)
        return existing
    people = _accountable_people(
        session,
        team=team_row,
        owner=owner,
        change_approver=change_approver,
        oncall=oncall,
        cost_watcher=cost_watcher,
    )
    service = Service(
        name=name,
        team=team_row,
        status=ServiceStatus.PROVISIONING,
        description=description,
        lifecycle=coerce_enum(Lifecycle, lifecycle, what="lifecycle"),
        **people,
    )
    created = add_unique(session, service, reload=lambda: get_service(session, name=name))
    _check_same_team(created, team)
    return created


def _check_same_team(service: Service, team: str) -> None:
    if service.team.slug != team:
        raise Conflict(f"service {service.name!r} already belongs to team {service.team.slug!r}")


def _accountable_people(
    session: Session,
    *,
    team: Team,
    owner: str,
    change_approver: str | None,
    oncall: str | None,
    cost_watcher: str | None,
) -> dict[str, Any]:
    """Owner, change approver, on-call and cost watcher, defaults applied, all active."""
    owner_person = require_active_person(session, handle=owner, role="owner")
    # The lead is the natural approver and cost watcher; without an active lead the
    # owner answers for both rather than nobody.
    lead = team.lead if team.lead is not None and team.lead.active else owner_person

    def pick(handle: str | None, role: str, default: Person) -> Person:
        return (
            default if handle is None else require_active_person(session, handle=handle, role=role)
        )

    return {
        "owner": owner_person,
        "change_approver": pick(change_approver, "change_approver", lead),
        "oncall": pick(oncall, "oncall", owner_person),
        "cost_watcher": pick(cost_watcher, "cost_watcher", lead),
    }


def set_service_status(session: Session, *, name: str, status: ServiceStatus | str) -> Service:
    """Set the service's status; NotFound if there is no such service."""
    service = require_service(session, name=name)
    previous = service.status
    service.status = coerce_enum(ServiceStatus, status, what="service status")
    if service.status != previous:
        record_event(
            session,
            service=service.name,
            event_type="service.status_changed",
            payload={"status": service.status.value, "previous_status": previous.value},
        )
    session.flush()
    return service


def set_ownership(
    session: Session,
    *,
    service: str,
    owner: str,
    team: str,
    change_approver: str | None = None,
    oncall: str | None = None,
    cost_watcher: str | None = None,
) -> Service:
    """Write who answers for ``service``: the final step of every action.

    Every person must exist and be active (NotFound, NotAuthorized); None applies the same
    defaults as ``get_or_create_service``. Moving a service to another team is allowed
    here: this is the explicit write of ownership.
    """
    service_row = require_service(session, name=service)
    team_row = require_team(session, slug=team)
    people = _accountable_people(
        session,
        team=team_row,
        owner=owner,
        change_approver=change_approver,
        oncall=oncall,
        cost_watcher=cost_watcher,
    )
    before = _ownership_payload(service_row)
    service_row.team = team_row
    for role, person in people.items():
        setattr(service_row, role, person)
    after = _ownership_payload(service_row)
    if after != before:
        record_event(
            session,
            service=service_row.name,
            event_type="service.ownership_changed",
            payload={**after, "previous": before},
        )
    session.flush()
    return service_row


def _ownership_payload(service: Service) -> dict[str, str | None]:
    def handle(person: Person | None) -> str | None:
        return None if person is None else person.handle

    return {
        "team": service.team.slug,
        "owner": service.owner.handle,
        "change_approver": handle(service.change_approver),
        "oncall": handle(service.oncall),
        "cost_watcher": handle(service.cost_watcher),
    }


# --- resources ----------------------------------------------------------------------


def _resource_loader_options() -> list[LoaderOption]:
    return [
        joinedload(Resource.service).joinedload(Service.team),
        joinedload(Resource.service).joinedload(Service.owner),
    ]


def settle_unfinished(session: Session, *, service: str, error: str) -> int:
    """After a run of `service` died without writing its results: each of its resources
    still `provisioning` becomes `failed` with `error`, and a `provisioning` service
    becomes `failed` (it was never whole). Returns how many resources changed.

    The caller makes sure no later run of the service is writing those statuses."""
    row = get_service(session, name=service)
    if row is None:
        return 0
    settled = 0
    for resource in find_resources(session, service=service, status=ResourceStatus.PROVISIONING):
        previous = resource.status
        resource.status = ResourceStatus.FAILED
        resource.error = error
        _record_resource_status(session, resource, row, previous=previous)
        settled += 1
    if row.status == ServiceStatus.PROVISIONING:
        set_service_status(session, name=service, status=ServiceStatus.FAILED)
    session.flush()
    return settled


def upsert_resource(
    session: Session,
    *,
    service: str | None,
    provider: Provider | str,
    kind: str,
    name: str,
    external_id: str | None = None,
    url: str | None = None,
    spec: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    status: ResourceStatus | str,
    error: str | None = None,
) -> Resource:
    """Create or update the resource with the natural key (provider, kind, name).

    On an existing resource, ``external_id``, ``url``, ``spec``, ``tags`` and ``service``
    are only changed when given (so a status update does not erase the ARN), while
    ``status`` and ``error`` are always written (None clears a previous error). Claiming
    a resource that belongs to another service raises Conflict; an orphan is adopted.
    """
    provider_value = coerce_enum(Provider, provider, what="provider")
    status_value = coerce_enum(ResourceStatus, status, what="resource status")
    require_text(kind, what="resource kind", max_length=64)
    require_text(name, what="resource name", max_length=255)
    service_row = require_service(session, name=service) if service is not None else None

    def reload() -> Resource | None:
        return get_resource(session, provider=provider_value, kind=kind, name=name)

    resource = reload()
    if resource is None:
        created = Resource(
            service=service_row,
            provider=provider_value,
            kind=kind,
            name=name,
            external_id=external_id,
            url=url,
            spec=dict(spec or {}),
            tags=dict(tags or {}),
            status=status_value,
            error=error,
        )
        resource = add_unique(session, created, reload=reload)
        if resource is created:
            _record_resource_status(session, resource, service_row, previous=None)
            return resource
    if service_row is not None and resource.service_id != service_row.id:
        if resource.service is not None:
            raise Conflict(
                f"resource {provider_value.value}/{kind} {name!r} already belongs to "
                f"service {resource.service.name!r}, not {service_row.name!r}"
            )
        resource.service = service_row
    if external_id is not None:
        resource.external_id = external_id
    if url is not None:
        resource.url = url
    if spec is not None:
        resource.spec = dict(spec)
    if tags is not None:
        resource.tags = dict(tags)
    previous = resource.status
    resource.status = status_value
    resource.error = error
    if status_value != previous:
        _record_resource_status(session, resource, resource.service, previous=previous)
    session.flush()
    return resource


def _record_resource_status(
    session: Session,
    resource: Resource,
    service: Service | None,
    *,
    previous: ResourceStatus | None,
) -> None:
    record_event(
        session,
        service=None if service is None else service.name,
        event_type="resource.status_changed",
        payload={
            "provider": resource.provider.value,
            "kind": resource.kind,
            "name": resource.name,
            "external_id": resource.external_id,
            "status": resource.status.value,
            "previous_status": None if previous is None else previous.value,
            "error": resource.error,
        },
    )


def get_resource(
    session: Session, *, provider: Provider | str, kind: str, name: str
) -> Resource | None:
    """The resource with this natural key (its service, team and owner loaded), or None."""
    provider_value = coerce_enum(Provider, provider, what="provider")
    return session.scalars(
        select(Resource)
        .options(*_resource_loader_options())
        .where(Resource.provider == provider_value, Resource.kind == kind, Resource.name == name)
    ).one_or_none()


def find_resources(
    session: Session,
    *,
    service: str | None = None,
    team: str | None = None,
    owner: str | None = None,
    kind: str | None = None,
    status: ResourceStatus | str | None = None,
    provider: Provider | str | None = None,
) -> list[Resource]:
    """Resources matching every filter given, ordered by provider, kind and name.

    ``team`` and ``owner`` are those of the resource's service, so orphans only appear
    when neither, nor ``service``, is given.
    """
    statement = select(Resource).options(*_resource_loader_options())
    if service is not None or team is not None or owner is not None:
        owning = aliased(Service)
        statement = statement.join(owning, Resource.service_id == owning.id)
        if service is not None:
            statement = statement.where(owning.name == service)
        if team is not None:
            statement = statement.join(Team, owning.team_id == Team.id).where(Team.slug == team)
        if owner is not None:
            statement = statement.join(Person, owning.owner_id == Person.id).where(
                Person.handle == normalize_handle(owner)
            )
    if kind is not None:
        statement = statement.where(Resource.kind == kind)
    if status is not None:
        statement = statement.where(
            Resource.status == coerce_enum(ResourceStatus, status, what="resource status")
        )
    if provider is not None:
        statement = statement.where(
            Resource.provider == coerce_enum(Provider, provider, what="provider")
        )
    statement = statement.order_by(Resource.provider, Resource.kind, Resource.name)
    return list(session.scalars(statement))
