"""Drift findings: what the audit saw, kept from first seen to resolved, and who was told.

``sync_findings`` is the audit's one write: it takes every difference one run detected
and, per fingerprint, opens a finding, moves ``last_seen`` of the open one, or (for a
difference of a scope the run audited that it no longer sees) resolves it. A provider
whose listing failed is not in the run's scope, so its findings stay as they were
instead of being resolved by an empty inventory.

``findings_to_notify`` decides who hears of it: one message per owner listing all their
open findings, sent when at least one of them is new to that owner or was last told
longer ago than the reminder interval. A finding seen again every day is not repeated
every day.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, aliased

from registry import policy
from registry._support import coerce_enum, normalize_handle
from registry.models import (
    DriftClass,
    DriftFinding,
    Person,
    Resource,
    ResourceStatus,
    Service,
    Team,
    utc_now,
)

__all__ = [
    "Answerable",
    "AuditTarget",
    "DetectedDrift",
    "SyncOutcome",
    "answerable_people",
    "audit_targets",
    "findings_to_notify",
    "known_external_ids",
    "list_findings",
    "mark_notified",
    "resolve_findings",
    "sync_findings",
]

REGISTRY_SCOPE = "registry"
"""The scope of ownerless findings: the registry alone decides them, every run."""


@dataclass(frozen=True)
class DetectedDrift:
    """One difference one audit run detected (not yet a stored finding)."""

    drift_class: DriftClass
    provider: str
    kind: str
    identifier: str
    summary: str
    detail: dict[str, Any] = field(default_factory=dict)
    resource_id: int | None = None
    service: str | None = None
    team: str | None = None
    owner: str | None = None

    @property
    def fingerprint(self) -> str:
        """Names this difference across runs."""
        return "|".join((self.drift_class.value, self.provider, self.kind, self.identifier))


def _scope(finding: DriftFinding) -> str:
    """What a run must have audited for this finding to be judged gone."""
    return REGISTRY_SCOPE if finding.drift_class is DriftClass.OWNERLESS else finding.provider


@dataclass(frozen=True)
class SyncOutcome:
    """Ids of the findings a run opened, saw again and resolved."""

    opened: list[int]
    seen_again: list[int]
    resolved: list[int]


def sync_findings(
    session: Session,
    *,
    detected: Iterable[DetectedDrift],
    audited: Collection[str],
    run_id: str,
    now: datetime | None = None,
) -> SyncOutcome:
    """Store one run's differences. ``audited`` names the scopes the run fully listed
    (providers, and ``"registry"`` for ownerless): open findings of those scopes that the
    run did not detect are resolved as ``gone``."""
    now = now or utc_now()
    by_fingerprint = {drift.fingerprint: drift for drift in detected}
    open_rows = {
        row.fingerprint: row
        for row in session.scalars(select(DriftFinding).where(DriftFinding.resolved_at.is_(None)))
    }
    opened: list[DriftFinding] = []
    seen_again: list[int] = []
    for fingerprint, drift in by_fingerprint.items():
        owner = normalize_handle(drift.owner) if drift.owner else None
        row = open_rows.get(fingerprint)
        if row is None:
            row = DriftFinding(
                fingerprint=fingerprint,
                drift_class=drift.drift_class,
                provider=drift.provider,
                kind=drift.kind,
                identifier=drift.identifier,
                first_seen=now,
                notified_at=None,
            )
            session.add(row)
            opened.append(row)
        else:
            seen_again.append(row.id)
            if row.owner != owner:
                # Someone new answers for it: they have not been told yet.
                row.notified_at = None
        row.resource_id = drift.resource_id
        row.service = drift.service
        row.team = drift.team
        row.owner = owner
        row.summary = drift.summary
        row.detail = drift.detail
        row.last_seen = now
        row.last_run_id = run_id
    resolved = [
        row
        for fingerprint, row in open_rows.items()
        if fingerprint not in by_fingerprint and _scope(row) in audited
    ]
    for row in resolved:
        row.resolved_at = now
        row.resolution = "gone"
        row.last_run_id = run_id
    session.flush()
    return SyncOutcome(
        opened=[row.id for row in opened],
        seen_again=seen_again,
        resolved=[row.id for row in resolved],
    )


def resolve_findings(
    session: Session, *, ids: Sequence[int], resolution: str, now: datetime | None = None
) -> int:
    """Resolve open findings by id (e.g. ``remediated``); returns how many were open."""
    if not ids:
        return 0
    result = session.execute(
        update(DriftFinding)
        .where(DriftFinding.id.in_(ids), DriftFinding.resolved_at.is_(None))
        .values(resolved_at=now or utc_now(), resolution=resolution)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def findings_to_notify(
    session: Session, *, reminder: timedelta, now: datetime | None = None
) -> dict[str, list[DriftFinding]]:
    """Per owner, all their open findings, for the owners due a message: one of their
    findings was never told to them, or told longer than ``reminder`` ago."""
    now = now or utc_now()
    by_owner: dict[str, list[DriftFinding]] = defaultdict(list)
    rows = session.scalars(
        select(DriftFinding)
        .where(DriftFinding.resolved_at.is_(None), DriftFinding.owner.is_not(None))
        .order_by(DriftFinding.first_seen, DriftFinding.id)
    )
    for row in rows:
        assert row.owner is not None
        by_owner[row.owner].append(row)
    due_before = now - reminder
    return {
        owner: findings
        for owner, findings in by_owner.items()
        if any(f.notified_at is None or f.notified_at <= due_before for f in findings)
    }


def mark_notified(session: Session, *, ids: Sequence[int], now: datetime | None = None) -> None:
    """Record that the findings ``ids`` were just told to their owner."""
    if ids:
        session.execute(
            update(DriftFinding)
            .where(DriftFinding.id.in_(ids))
            .values(notified_at=now or utc_now())
        )


def list_findings(
    session: Session,
    *,
    open_only: bool = False,
    drift_class: DriftClass | str | None = None,
    owner: str | None = None,
    service: str | None = None,
) -> list[DriftFinding]:
    """Findings, oldest first, filtered by state, class, owner and service."""
    query = select(DriftFinding).order_by(DriftFinding.first_seen, DriftFinding.id)
    if open_only:
        query = query.where(DriftFinding.resolved_at.is_(None))
    if drift_class is not None:
        wanted = coerce_enum(DriftClass, drift_class, what="drift class")
        query = query.where(DriftFinding.drift_class == wanted)
    if owner is not None:
        query = query.where(DriftFinding.owner == normalize_handle(owner))
    if service is not None:
        query = query.where(DriftFinding.service == service)
    return list(session.scalars(query))


@dataclass(frozen=True)
class AuditTarget:
    """A registered resource as the audit compares it: its declared spec and the tags
    the policy requires of it now (from the service's current owner and team)."""

    resource_id: int
    provider: str
    kind: str
    name: str
    external_id: str | None
    status: ResourceStatus
    spec: dict[str, Any]
    service: str | None
    team: str | None
    owner: str | None
    expected_tags: dict[str, str]
    answerable: str | None
    """Who is told about it: the owner while active, else the team's active lead."""


def audit_targets(session: Session) -> list[AuditTarget]:
    """Every registered resource that is not retired, with its service's ownership, in
    one query (the audit reads the whole registry once per run)."""
    owner, lead = aliased(Person), aliased(Person)
    rows = session.execute(
        select(Resource, Service.name, Team.slug, Team.cost_center, owner.handle, owner.active)
        .add_columns(lead.handle, lead.active)
        .outerjoin(Service, Resource.service_id == Service.id)
        .outerjoin(Team, Service.team_id == Team.id)
        .outerjoin(owner, Service.owner_id == owner.id)
        .outerjoin(lead, Team.lead_id == lead.id)
        .where(Resource.status != ResourceStatus.RETIRED)
        .order_by(Resource.id)
    ).all()
    targets = []
    for (
        resource,
        service,
        team,
        cost_center,
        owner_handle,
        owner_active,
        lead_handle,
        lead_active,
    ) in rows:
        expected = (
            policy.policy_tags(
                service=service, team=team, owner=owner_handle, cost_center=cost_center
            )
            if service and team and owner_handle and cost_center
            else {}
        )
        targets.append(
            AuditTarget(
                resource_id=resource.id,
                provider=resource.provider.value,
                kind=resource.kind,
                name=resource.name,
                external_id=resource.external_id,
                status=resource.status,
                spec=dict(resource.spec or {}),
                service=service,
                team=team,
                owner=owner_handle,
                expected_tags=expected,
                answerable=owner_handle if owner_active else (lead_handle if lead_active else None),
            )
        )
    return targets


def known_external_ids(session: Session) -> set[str]:
    """External ids and names of every resource the registry has ever held (retired
    ones too): whatever they name is not unmanaged."""
    known: set[str] = set()
    for external_id, name in session.execute(select(Resource.external_id, Resource.name)):
        known.add(name)
        if external_id:
            known.add(external_id)
    return known


@dataclass(frozen=True)
class Answerable:
    """Who answers for each service and team now (active people only)."""

    services: dict[str, str | None]
    """Service name -> its owner while active, else its team's active lead."""
    teams: dict[str, str | None]
    """Team slug -> its active lead."""


def answerable_people(session: Session) -> Answerable:
    """The people to tell about a service or team, for things found outside the registry
    (an unmanaged bucket named after a team) and for ownerless services."""
    owner, lead = aliased(Person), aliased(Person)
    teams = {
        slug: handle if active else None
        for slug, handle, active in session.execute(
            select(Team.slug, lead.handle, lead.active).outerjoin(lead, Team.lead_id == lead.id)
        )
    }
    services = {
        name: handle if active else teams.get(team)
        for name, team, handle, active in session.execute(
            select(Service.name, Team.slug, owner.handle, owner.active)
            .join(Team, Service.team_id == Team.id)
            .join(owner, Service.owner_id == owner.id)
        )
    }
    return Answerable(services=services, teams=teams)
