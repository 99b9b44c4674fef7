"""Forgetting what a provider no longer holds: `forget_provider_resources`.

The local sandbox's stand-ins (fake GitHub, moto, Tansu) keep their state in memory, so a
restarted one comes back empty. A registry that still lists what was made there would lie:
`who-owns` would answer for repositories that no longer exist and the drift audit would
report everything missing. `paved up` calls this for each stand-in it had to start, and
says what was forgotten. The journal is kept: what happened did happen.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, Field
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from registry.models import (
    AccessGrant,
    ActionClaim,
    Dependency,
    DriftFinding,
    Provider,
    Resource,
    Service,
    ServiceStatus,
)
from registry.services import set_service_status

__all__ = ["Forgotten", "forget_provider_resources"]


class Forgotten(BaseModel):
    """What the registry forgot."""

    resources: int = Field(description="Resources of the emptied providers.")
    services: list[str] = Field(description="Services left with nothing: removed.")
    failed: list[str] = Field(
        description="Services that kept resources at other providers: now `failed`, so a "
        "re-run of their request makes the rest again."
    )


def forget_provider_resources(session: Session, *, providers: Iterable[Provider]) -> Forgotten:
    """Remove every resource of `providers` (with the grants, dependencies and findings
    on it); a service left with no resource is removed, one that keeps some is `failed`."""
    wanted = list(providers)
    resources = list(session.scalars(select(Resource).where(Resource.provider.in_(wanted))))
    touched = {r.service_id for r in resources if r.service_id is not None}
    ids = [r.id for r in resources]
    if ids:
        session.execute(delete(Dependency).where(Dependency.depends_on_resource_id.in_(ids)))
        session.execute(delete(AccessGrant).where(AccessGrant.resource_id.in_(ids)))
        session.execute(delete(DriftFinding).where(DriftFinding.resource_id.in_(ids)))
        session.execute(delete(Resource).where(Resource.id.in_(ids)))
    removed: list[str] = []
    failed: list[str] = []
    for service in session.scalars(select(Service).where(Service.id.in_(touched))):
        left = session.scalar(select(Resource.id).where(Resource.service_id == service.id).limit(1))
        if left is None:
            session.execute(
                delete(Dependency).where(
                    (Dependency.service_id == service.id)
                    | (Dependency.depends_on_service_id == service.id)
                )
            )
            session.execute(delete(AccessGrant).where(AccessGrant.service_id == service.id))
            session.execute(delete(ActionClaim).where(ActionClaim.key == f"service:{service.name}"))
            removed.append(service.name)
        elif service.status != ServiceStatus.RETIRED:
            failed.append(service.name)
    for name in failed:  # through set_service_status: the change is an outbox event too
        set_service_status(session, name=name, status=ServiceStatus.FAILED)
    if removed:
        session.execute(delete(DriftFinding).where(DriftFinding.service.in_(removed)))
        session.execute(delete(Service).where(Service.name.in_(removed)))
    session.flush()
    return Forgotten(resources=len(ids), services=sorted(removed), failed=sorted(failed))
