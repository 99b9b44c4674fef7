"""The dependency graph both ways: what a service depends on, and who depends on a thing.

The transitive closure is computed in the database with one recursive query (a recursive
CTE over service -> service edges), the same SQL on SQLite and PostgreSQL. Each walk
carries the path of service ids it took (``/3/7/12/``) and never steps onto a service
already on its path, so a cycle (a -> b -> a) ends the walk instead of looping. The
depth of a service is the length of its shortest path.

Answers are edges (``DependencyRow``): "service S depends on target T", with the depth
at which S was reached plus one, so a cycle shows up as an edge back to a service
already listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import (
    CTE,
    ColumnElement,
    ColumnExpressionArgument,
    Integer,
    Select,
    String,
    Text,
    cast,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session, aliased

from registry.errors import NotFound
from registry.models import Dependency, Provider, Resource, Service
from registry.services import require_service

__all__ = ["DependencyRow", "dependents", "deps"]

# Plain columns, not entities: a closure can hold thousands of edges, and building ORM
# objects for them costs more than the query. The dependency's kind, its service, the
# target service or the target resource's name, provider, kind and external id, depth.
# (The outer joins make the target's columns None in practice; SQLAlchemy types them as
# joined.)
_EdgeSelect = Select[str, str, str, str, Provider, str, str | None, int]


@dataclass(frozen=True)
class DependencyRow:
    """One edge of the graph: ``service`` depends on ``target`` (a service or a resource).

    ``depth`` is 1 for an edge of the service asked about (or onto the thing asked about),
    2 for an edge of a service one step further away, and so on. For a resource target,
    ``provider`` and ``resource_kind`` complete its natural key and ``external_id`` is
    what the provider calls it; they are None for a service target.
    """

    service: str
    target: str
    target_type: Literal["service", "resource"]
    kind: str
    depth: int
    provider: str | None = None
    resource_kind: str | None = None
    external_id: str | None = None


def _path_step(service_id: ColumnExpressionArgument[int | None]) -> ColumnElement[str]:
    # Delimited on both sides so that id 1 is not found inside "/11/".
    return literal("/") + cast(service_id, String) + literal("/")


def _closure(anchor_ids: Select[int], *, reverse: bool, name: str) -> CTE:
    """Every service reachable from ``anchor_ids`` (depth 0) over service -> service edges,
    forwards (what they depend on) or in ``reverse`` (who depends on them), one row per
    (service, path); cycles end a walk."""
    anchor = anchor_ids.subquery()
    seed = select(
        anchor.c[0].label("service_id"),
        cast(literal(0), Integer).label("depth"),
        cast(_path_step(anchor.c[0]), Text).label("path"),
    )
    reach = seed.cte(name=name, recursive=True)
    step_to = Dependency.service_id if reverse else Dependency.depends_on_service_id
    step_from = Dependency.depends_on_service_id if reverse else Dependency.service_id
    walk = (
        select(
            step_to.label("service_id"),
            (reach.c.depth + 1).label("depth"),
            cast(reach.c.path + _path_step(step_to), Text).label("path"),
        )
        .join(reach, step_from == reach.c.service_id)
        .where(
            Dependency.depends_on_service_id.is_not(None),
            ~reach.c.path.contains(_path_step(step_to)),
        )
    )
    return reach.union_all(walk)


def _nearest(reach: CTE) -> Select[int, int]:
    """Each reached service once, at its shortest depth."""
    return select(reach.c.service_id, func.min(reach.c.depth).label("depth")).group_by(
        reach.c.service_id
    )


def _edges(session: Session, statement: _EdgeSelect) -> list[DependencyRow]:
    rows: list[DependencyRow] = []
    for (
        kind,
        source,
        target_service,
        name,
        provider,
        resource_kind,
        external_id,
        depth,
    ) in session.execute(statement):
        if target_service is not None:
            rows.append(DependencyRow(source, target_service, "service", kind, depth))
        elif name is not None:
            rows.append(
                DependencyRow(
                    source,
                    name,
                    "resource",
                    kind,
                    depth,
                    provider=provider.value,
                    resource_kind=resource_kind,
                    external_id=external_id,
                )
            )
    return sorted(rows, key=lambda row: (row.depth, row.service, row.target_type, row.target))


def _edge_select(
    depth: ColumnElement[int],
) -> _EdgeSelect:
    source = aliased(Service)
    target = aliased(Service)
    return (
        select(
            Dependency.kind,
            source.name,
            target.name,
            Resource.name,
            Resource.provider,
            Resource.kind,
            Resource.external_id,
            depth,
        )
        .join(source, Dependency.service_id == source.id)
        .outerjoin(target, Dependency.depends_on_service_id == target.id)
        .outerjoin(Resource, Dependency.depends_on_resource_id == Resource.id)
    )


def deps(session: Session, *, service: str, transitive: bool = False) -> list[DependencyRow]:
    """What ``service`` depends on (services and resources), nearest first.

    Without ``transitive``, its own edges (depth 1). With it, also the edges of every
    service it reaches through service -> service dependencies, each at the depth of
    that service plus one. NotFound for an unknown service.
    """
    root = require_service(session, name=service)
    if not transitive:
        statement = _edge_select(cast(literal(1), Integer)).where(Dependency.service_id == root.id)
        return _edges(session, statement)
    reach = _closure(select(Service.id).where(Service.id == root.id), reverse=False, name="reach")
    nearest = _nearest(reach).subquery("nearest")
    statement = _edge_select((nearest.c.depth + 1).label("depth")).join(
        nearest, Dependency.service_id == nearest.c.service_id
    )
    return _edges(session, statement)


def dependents(session: Session, *, thing: str) -> list[DependencyRow]:
    """Who depends on ``thing``, directly (depth 1) and through other services (2, 3...).

    ``thing`` is a service name, else a resource's name, external id (ARN, ``org/repo``,
    topic) or URL; every resource matching is asked about. Each row is an edge whose
    ``service`` depends on ``thing`` or on a service that does. NotFound if the
    registry knows no such service or resource.
    """
    target_service = session.scalar(select(Service.id).where(Service.name == thing))
    resource_ids: list[int] = []
    if target_service is None:
        resource_ids = list(
            session.scalars(
                select(Resource.id).where(
                    or_(
                        Resource.name == thing,
                        Resource.external_id == thing,
                        Resource.url == thing,
                    )
                )
            )
        )
        if not resource_ids:
            raise NotFound(f"the registry knows no service or resource {thing!r}")

    if target_service is not None:
        # The service itself is depth 0: a cycle back onto it ends the walk.
        anchor = select(Service.id).where(Service.id == target_service)
        direct_depth = 0
    else:
        anchor = select(Dependency.service_id).where(
            Dependency.depends_on_resource_id.in_(resource_ids)
        )
        direct_depth = 1
    reach = _closure(anchor, reverse=True, name="reach")
    nearest = _nearest(reach).subquery("nearest")
    # An edge onto a reached service is one step further than that service.
    onto_services = _edge_select((nearest.c.depth + 1 + direct_depth).label("depth")).join(
        nearest, Dependency.depends_on_service_id == nearest.c.service_id
    )
    statements = [onto_services]
    if resource_ids:
        statements.append(
            _edge_select(cast(literal(1), Integer)).where(
                Dependency.depends_on_resource_id.in_(resource_ids)
            )
        )
    rows: list[DependencyRow] = []
    for statement in statements:
        rows.extend(_edges(session, statement))
    return sorted(rows, key=lambda row: (row.depth, row.service, row.target_type, row.target))
