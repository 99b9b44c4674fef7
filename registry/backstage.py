"""The registry as Backstage catalog entities (``backstage.io/v1alpha1``).

Teams become ``Group``s, people ``User``s, services ``Component``s of type ``service`` and
resources ``Resource``s whose type is the registry kind. Owners are entity references
(``group:default/payments``); who answers for a service (accountable owner, change
approver, on-call, cost watcher) rides along as ``paved.io/*`` annotations, since Backstage
has no field for them.

What is left out, on purpose:

- retired services and retired resources: they no longer exist, so they are not in the
  catalog (and references to them are dropped);
- orphan resources (no service): Backstage requires an owner and they have none yet;
  ``paved orphans`` lists them.

Backstage entity names are ``[A-Za-z0-9]`` separated by ``-``, ``_`` or ``.``, at most 63
characters. Resource names (``acme/orders``, ``/paved/payments/orders``) are not, so
:func:`entity_name` makes a valid name deterministically and the original is kept in the
``paved.io/name`` and ``paved.io/external-id`` annotations.

Pure: reads the session, returns plain dicts ready for YAML or JSON.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from registry.models import (
    Dependency,
    Person,
    Resource,
    ResourceStatus,
    Service,
    ServiceStatus,
    Team,
    TeamMembership,
)
from registry.services import service_loader_options

__all__ = [
    "API_VERSION",
    "ENTITY_NAME_MAX",
    "KIND_ORDER",
    "backstage_entities",
    "entity_name",
    "entity_ref",
    "is_valid_entity_name",
    "resource_entity_name",
]

API_VERSION = "backstage.io/v1alpha1"
ENTITY_NAME_MAX = 63
# The order kinds are listed in (and written to files in).
KIND_ORDER = ("Group", "User", "Component", "Resource")
# Backstage's own rule for metadata.name (KubernetesValidatorFunctions.isValidObjectName).
_VALID_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_INVALID_RUN = re.compile(r"[^A-Za-z0-9_.-]+")
_SEPARATORS = "-_."
_HASH_LENGTH = 8
# The registry kind holding a service's GitHub repository (external id ``org/repo``).
_GITHUB_REPOSITORY_KIND = "github_repository"


def is_valid_entity_name(name: str) -> bool:
    """Whether ``name`` is a valid Backstage ``metadata.name``."""
    return len(name) <= ENTITY_NAME_MAX and _VALID_NAME.match(name) is not None


def entity_name(text: str, *, key: str | None = None) -> str:
    """A valid Backstage entity name for ``text``, deterministic.

    A valid name is kept as is. Otherwise runs of characters Backstage refuses become
    ``-``, leading and trailing separators go, and ``-`` plus 8 hex digits of the SHA-256
    of ``key`` (default: ``text``) are appended, truncating to 63 characters: two texts
    that clean up the same (``acme/orders`` and ``acme:orders``) still get two names.
    """
    if is_valid_entity_name(text):
        return text
    digest = hashlib.sha256((key if key is not None else text).encode()).hexdigest()
    suffix = digest[:_HASH_LENGTH]
    cleaned = _INVALID_RUN.sub("-", text).strip(_SEPARATORS)
    base = cleaned[: ENTITY_NAME_MAX - _HASH_LENGTH - 1].rstrip(_SEPARATORS)
    return f"{base}-{suffix}" if base else suffix


def resource_entity_name(resource: Resource) -> str:
    """The entity name of a resource: ``<kind>-<name>``, made valid by :func:`entity_name`.

    The kind is part of it because names are only unique per provider and kind in the
    registry, but per Backstage kind (``Resource``) in the catalog.
    """
    key = f"{resource.provider.value}/{resource.kind}/{resource.name}"
    return entity_name(f"{resource.kind}-{resource.name}", key=key)


def entity_ref(kind: str, name: str) -> str:
    """A full entity reference in the default namespace: ``component:default/orders``."""
    return f"{kind.lower()}:default/{name}"


def _entity(kind: str, metadata: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": spec}


def _metadata(
    name: str, *, description: str = "", annotations: dict[str, str | None] | None = None
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if description:
        metadata["description"] = description
    kept = {key: value for key, value in (annotations or {}).items() if value}
    if kept:
        metadata["annotations"] = dict(sorted(kept.items()))
    return metadata


def _handle(person: Person | None) -> str | None:
    return person.handle if person is not None else None


def _groups(teams: Iterable[Team]) -> list[dict[str, Any]]:
    entities = []
    for team in teams:
        members = sorted(entity_name(m.person.handle) for m in team.memberships)
        spec: dict[str, Any] = {
            "type": "team",
            "profile": {"displayName": team.name},
            "children": [],
            "members": members,
        }
        annotations = {
            "paved.io/lead": _handle(team.lead),
            "paved.io/cost-center": team.cost_center,
        }
        entities.append(
            _entity("Group", _metadata(entity_name(team.slug), annotations=annotations), spec)
        )
    return entities


def _users(people: Iterable[Person], teams_of: dict[int, list[str]]) -> list[dict[str, Any]]:
    entities = []
    for person in people:
        annotations: dict[str, str | None] = {}
        if not person.active:
            annotations["paved.io/active"] = "false"
            if person.deactivated_at is not None:
                annotations["paved.io/deactivated-at"] = person.deactivated_at.isoformat()
        spec = {
            "profile": {"displayName": person.name, "email": person.email},
            "memberOf": sorted(teams_of.get(person.id, [])),
        }
        metadata = _metadata(entity_name(person.handle), annotations=annotations)
        entities.append(_entity("User", metadata, spec))
    return entities


def _project_slug(resources: list[Resource]) -> str | None:
    for resource in resources:
        if resource.kind == _GITHUB_REPOSITORY_KIND:
            return resource.external_id or resource.name
    return None


def backstage_entities(session: Session) -> list[dict[str, Any]]:
    """Every exported registry row as a Backstage entity: Groups, Users, Components,
    Resources, each kind sorted by name (so that exports diff cleanly)."""
    teams = session.scalars(
        select(Team)
        .options(
            joinedload(Team.lead),
            selectinload(Team.memberships).joinedload(TeamMembership.person),
        )
        .order_by(Team.slug)
    ).all()
    people = session.scalars(select(Person).order_by(Person.handle)).all()
    services = session.scalars(
        select(Service)
        .options(*service_loader_options())
        .where(Service.status != ServiceStatus.RETIRED)
        .order_by(Service.name)
    ).all()
    resources = session.scalars(
        select(Resource)
        .where(Resource.status != ResourceStatus.RETIRED, Resource.service_id.is_not(None))
        .order_by(Resource.provider, Resource.kind, Resource.name)
    ).all()
    dependencies = session.scalars(select(Dependency).order_by(Dependency.id)).all()

    teams_of: dict[int, list[str]] = defaultdict(list)
    for team in teams:
        for membership in team.memberships:
            teams_of[membership.person_id].append(entity_name(team.slug))

    service_by_id = {service.id: service for service in services}
    resource_names = {resource.id: resource_entity_name(resource) for resource in resources}
    resources_of: dict[int, list[Resource]] = defaultdict(list)
    for resource in resources:
        assert resource.service_id is not None  # filtered in the query
        resources_of[resource.service_id].append(resource)

    depends_on: dict[int, set[str]] = defaultdict(set)
    for resource in resources:
        assert resource.service_id is not None
        depends_on[resource.service_id].add(entity_ref("Resource", resource_names[resource.id]))
    for dependency in dependencies:
        if dependency.depends_on_service_id in service_by_id:
            target = service_by_id[dependency.depends_on_service_id]
            depends_on[dependency.service_id].add(entity_ref("Component", entity_name(target.name)))
        elif dependency.depends_on_resource_id in resource_names:
            name = resource_names[dependency.depends_on_resource_id]
            depends_on[dependency.service_id].add(entity_ref("Resource", name))

    components = []
    for service in services:
        annotations = {
            "paved.io/accountable-owner": service.owner.handle,
            "paved.io/change-approver": _handle(service.change_approver),
            "paved.io/oncall": _handle(service.oncall),
            "paved.io/cost-watcher": _handle(service.cost_watcher),
            "paved.io/status": service.status.value,
            "github.com/project-slug": _project_slug(resources_of.get(service.id, [])),
        }
        spec = {
            "type": "service",
            "lifecycle": service.lifecycle.value,
            "owner": entity_ref("Group", entity_name(service.team.slug)),
            "dependsOn": sorted(depends_on.get(service.id, set())),
        }
        metadata = _metadata(
            entity_name(service.name), description=service.description, annotations=annotations
        )
        components.append(_entity("Component", metadata, spec))

    resource_entities = []
    team_slug_of_service = {service.id: service.team.slug for service in services}
    for resource in sorted(resources, key=lambda r: resource_names[r.id]):
        assert resource.service_id is not None
        owning = service_by_id.get(resource.service_id)
        if owning is None:
            # Its service is retired but the resource was not: still owned by the team.
            owner_team = _team_slug(session, resource.service_id)
        else:
            owner_team = team_slug_of_service[owning.id]
        resource_spec: dict[str, Any] = {
            "type": resource.kind,
            "owner": entity_ref("Group", entity_name(owner_team)),
        }
        if owning is not None:
            resource_spec["dependencyOf"] = [entity_ref("Component", entity_name(owning.name))]
        annotations = {
            "paved.io/name": resource.name,
            "paved.io/provider": resource.provider.value,
            "paved.io/kind": resource.kind,
            "paved.io/external-id": resource.external_id,
            "paved.io/status": resource.status.value,
        }
        metadata = _metadata(resource_names[resource.id], annotations=annotations)
        if resource.url:
            metadata["links"] = [{"url": resource.url, "title": resource.name}]
        resource_entities.append(_entity("Resource", metadata, resource_spec))

    return [*_groups(teams), *_users(people, teams_of), *components, *resource_entities]


def _team_slug(session: Session, service_id: int) -> str:
    return session.execute(
        select(Team.slug).join(Service, Service.team_id == Team.id).where(Service.id == service_id)
    ).scalar_one()
