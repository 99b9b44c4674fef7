"""The outbox: registry changes recorded as events, to be published to Kafka later.

``record_event`` is called by the functions that change ownership or resource state, in
the caller's transaction: the event commits with the change or not at all, and a Kafka
outage never blocks a registry write. The publisher (``flows.journal.registry_events``) reads
``unpublished_events`` in order and calls ``mark_published`` once Kafka acknowledged them.

Each service's events carry a ``version`` counting from 1, unique per service (a
constraint); concurrent transactions writing events for one service take turns (see
``_lock_versions``), so none fails and no two events share a version.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import uuid4

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from registry.models import OutboxEvent, utc_now

__all__ = [
    "ORPHAN_KEY",
    "mark_published",
    "record_event",
    "unpublished_events",
]

# The key of events about resources that belong to no service.
ORPHAN_KEY = "_orphans"


def record_event(
    session: Session, *, service: str | None, event_type: str, payload: dict[str, Any]
) -> OutboxEvent:
    """Add an event about ``service`` (None: an orphan resource) with the next version."""
    key = service or ORPHAN_KEY
    _lock_versions(session, key)
    session.flush()  # the version below must see this transaction's earlier events
    latest = session.scalar(select(func.max(OutboxEvent.version)).where(OutboxEvent.service == key))
    event = OutboxEvent(
        event_id=str(uuid4()),
        service=key,
        version=(latest or 0) + 1,
        event_type=event_type,
        payload=dict(payload),
        occurred_at=utc_now(),
    )
    session.add(event)
    session.flush()
    return event


def _lock_versions(session: Session, key: str) -> None:
    # Two PostgreSQL transactions writing events for one service would both read the same
    # latest version, and one would fail on the unique (service, version) constraint. A
    # transaction-scoped advisory lock per key makes the second wait for the first to
    # commit, then read its version. SQLite needs none: the registry's SQLite
    # transactions begin IMMEDIATE, so writers are serialized from the start.
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"paved.outbox:{key}"},
        )


def unpublished_events(session: Session, *, limit: int | None = 500) -> list[OutboxEvent]:
    """Events not yet published, oldest first (the order they were written)."""
    statement = (
        select(OutboxEvent).where(OutboxEvent.published_at.is_(None)).order_by(OutboxEvent.id)
    )
    if limit is not None:
        statement = statement.limit(limit)
    return list(session.scalars(statement))


def mark_published(
    session: Session, *, event_ids: Sequence[str], published_at: datetime | None = None
) -> int:
    """Mark these events published; returns how many were still unpublished."""
    if not event_ids:
        return 0
    result = session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.event_id.in_(list(event_ids)), OutboxEvent.published_at.is_(None))
        .values(published_at=published_at or utc_now())
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return int(result.rowcount)  # type: ignore[attr-defined]
