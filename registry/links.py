"""What a service depends on, and who has been granted access to what.

Query functions take the session first and keyword arguments after it, flush what they
write and never commit: the caller's ``session_scope`` decides.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased, joinedload

from registry._support import add_unique, coerce_enum, eq_or_null, normalize_handle, require_text
from registry.errors import NotFound, PolicyViolation
from registry.models import (
    AccessGrant,
    Dependency,
    GrantStatus,
    Person,
    Provider,
    Resource,
    Service,
    utc_now,
)
from registry.people import require_active_person, require_person
from registry.services import get_resource, require_service

__all__ = [
    "DependencyInfo",
    "ResourceKey",
    "add_dependency",
    "dependencies_of",
    "due_grants",
    "expire_grants",
    "find_grants",
    "grant_access",
    "revoke_access",
]

# A resource's natural key: (provider, kind, name), e.g. ("kafka", "kafka_topic", "a.b.c").
ResourceKey = tuple[Provider | str, str, str]


@dataclass(frozen=True)
class DependencyInfo:
    """One thing a service depends on: another service, or a resource by its natural key."""

    service: str
    kind: str
    description: str
    depends_on_service: str | None
    depends_on_resource: tuple[str, str, str] | None


def _require_resource(session: Session, key: ResourceKey) -> Resource:
    provider, kind, name = key
    resource = get_resource(session, provider=provider, kind=kind, name=name)
    if resource is None:
        raise NotFound(f"no resource {provider}/{kind} {name!r} in the registry")
    return resource


# --- dependencies -------------------------------------------------------------------


def add_dependency(
    session: Session,
    *,
    service: str,
    depends_on_service: str | None = None,
    depends_on_resource: ResourceKey | None = None,
    kind: str = "uses",
    description: str = "",
) -> Dependency:
    """Record that ``service`` depends on another service or on a resource (exactly one).

    Idempotent on (service, target, kind): a repeat returns the existing row, with its
    description updated when one is given.
    """
    if (depends_on_service is None) == (depends_on_resource is None):
        raise ValueError("give exactly one of depends_on_service and depends_on_resource")
    require_text(kind, what="dependency kind", max_length=64)
    dependent = require_service(session, name=service)
    target_service = (
        require_service(session, name=depends_on_service) if depends_on_service else None
    )
    target_resource = (
        _require_resource(session, depends_on_resource) if depends_on_resource else None
    )
    if target_service is not None and target_service.id == dependent.id:
        raise PolicyViolation(f"service {service!r} cannot depend on itself")
    target_service_id = target_service.id if target_service else None
    target_resource_id = target_resource.id if target_resource else None

    def reload() -> Dependency | None:
        return session.scalars(
            select(Dependency).where(
                Dependency.service_id == dependent.id,
                eq_or_null(Dependency.depends_on_service_id, target_service_id),
                eq_or_null(Dependency.depends_on_resource_id, target_resource_id),
                Dependency.kind == kind,
            )
        ).one_or_none()

    dependency = reload()
    if dependency is None:
        dependency = add_unique(
            session,
            Dependency(
                service=dependent,
                depends_on_service=target_service,
                depends_on_resource=target_resource,
                kind=kind,
                description=description,
            ),
            reload=reload,
        )
    elif description and dependency.description != description:
        dependency.description = description
        session.flush()
    return dependency


def dependencies_of(session: Session, *, service: str) -> list[DependencyInfo]:
    """Everything ``service`` depends on: services first, then resources, each sorted."""
    dependent = require_service(session, name=service)
    target_service = aliased(Service)
    rows = session.execute(
        select(Dependency, target_service.name, Resource)
        .outerjoin(target_service, Dependency.depends_on_service_id == target_service.id)
        .outerjoin(Resource, Dependency.depends_on_resource_id == Resource.id)
        .where(Dependency.service_id == dependent.id)
    ).all()
    found = [
        DependencyInfo(
            service=service,
            kind=dependency.kind,
            description=dependency.description,
            depends_on_service=service_name,
            depends_on_resource=(
                (resource.provider.value, resource.kind, resource.name) if resource else None
            ),
        )
        for dependency, service_name, resource in rows
    ]
    return sorted(
        found,
        key=lambda d: (
            d.depends_on_service is None,
            d.depends_on_service or "",
            d.depends_on_resource or ("", "", ""),
            d.kind,
        ),
    )


# --- access grants ------------------------------------------------------------------


def grant_access(
    session: Session,
    *,
    person: str,
    permission: str,
    service: str | None = None,
    resource: ResourceKey | None = None,
    approver: str | None = None,
    expires_at: datetime | None = None,
) -> AccessGrant:
    """Give ``person`` a permission on a service, a resource, or globally (neither).

    The person and the approver must be active. Idempotent: an active grant for the same
    person, permission and target is returned, with approver and expiry updated.
    """
    require_text(permission, what="permission", max_length=128)
    grantee = require_active_person(session, handle=person, role="grantee")
    approver_person = (
        require_active_person(session, handle=approver, role="approver") if approver else None
    )
    if expires_at is not None and expires_at <= utc_now():
        raise PolicyViolation(f"expires_at {expires_at.isoformat()} is in the past")
    service_row = require_service(session, name=service) if service is not None else None
    resource_row = _require_resource(session, resource) if resource is not None else None
    service_id = service_row.id if service_row else None
    resource_id = resource_row.id if resource_row else None

    def reload() -> AccessGrant | None:
        return session.scalars(
            select(AccessGrant).where(
                AccessGrant.person_id == grantee.id,
                AccessGrant.permission == permission,
                eq_or_null(AccessGrant.service_id, service_id),
                eq_or_null(AccessGrant.resource_id, resource_id),
                AccessGrant.status == GrantStatus.ACTIVE,
            )
        ).first()

    grant = reload()
    if grant is None:
        grant = add_unique(
            session,
            AccessGrant(
                person=grantee,
                permission=permission,
                service=service_row,
                resource=resource_row,
                approver=approver_person,
                expires_at=expires_at,
                status=GrantStatus.ACTIVE,
                granted_at=utc_now(),
            ),
            reload=reload,
        )
    else:
        grant.approver = approver_person
        grant.expires_at = expires_at
        session.flush()
    return grant


def revoke_access(
    session: Session,
    *,
    person: str,
    permission: str,
    service: str | None = None,
    resource: ResourceKey | None = None,
) -> list[AccessGrant]:
    """Revoke the person's active grants of ``permission`` on the target; returns them.

    Revoking what is not granted is not an error (the list is empty).
    """
    grantee = require_person(session, handle=person)
    service_id = require_service(session, name=service).id if service is not None else None
    resource_id = _require_resource(session, resource).id if resource is not None else None
    grants = list(
        session.scalars(
            select(AccessGrant).where(
                AccessGrant.person_id == grantee.id,
                AccessGrant.permission == permission,
                eq_or_null(AccessGrant.service_id, service_id),
                eq_or_null(AccessGrant.resource_id, resource_id),
                AccessGrant.status == GrantStatus.ACTIVE,
            )
        )
    )
    now = utc_now()
    for grant in grants:
        grant.status = GrantStatus.REVOKED
        grant.revoked_at = now
    session.flush()
    return grants


def find_grants(
    session: Session,
    *,
    person: str | None = None,
    service: str | None = None,
    status: GrantStatus | str | None = GrantStatus.ACTIVE,
) -> list[AccessGrant]:
    """Grants matching the filters (active ones by default), oldest first, person loaded."""
    statement = select(AccessGrant).options(
        joinedload(AccessGrant.person), joinedload(AccessGrant.approver)
    )
    if person is not None:
        grantee = aliased(Person)
        statement = statement.join(grantee, AccessGrant.person_id == grantee.id).where(
            grantee.handle == normalize_handle(person)
        )
    if service is not None:
        statement = statement.join(Service, AccessGrant.service_id == Service.id).where(
            Service.name == service
        )
    if status is not None:
        statement = statement.where(
            AccessGrant.status == coerce_enum(GrantStatus, status, what="grant status")
        )
    return list(session.scalars(statement.order_by(AccessGrant.granted_at, AccessGrant.id)))


def due_grants(session: Session, *, now: datetime | None = None) -> list[AccessGrant]:
    """Active grants whose ``expires_at`` has passed, oldest expiry first, with their
    person and service (and its team) loaded."""
    moment = now or utc_now()
    return list(
        session.scalars(
            select(AccessGrant)
            .options(
                joinedload(AccessGrant.person),
                joinedload(AccessGrant.service).joinedload(Service.team),
            )
            .where(
                AccessGrant.status == GrantStatus.ACTIVE,
                AccessGrant.expires_at.is_not(None),
                AccessGrant.expires_at <= moment,
            )
            .order_by(AccessGrant.expires_at, AccessGrant.id)
        )
    )


def expire_grants(
    session: Session, *, now: datetime | None = None, grant_ids: Collection[int] | None = None
) -> list[AccessGrant]:
    """Mark active grants whose ``expires_at`` has passed as expired (only those of
    ``grant_ids`` when given); returns them."""
    grants = [
        grant
        for grant in due_grants(session, now=now)
        if grant_ids is None or grant.id in grant_ids
    ]
    for grant in grants:
        grant.status = GrantStatus.EXPIRED
    session.flush()
    return grants
