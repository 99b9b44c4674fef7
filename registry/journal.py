"""The journal: one row per state change of every run of every action, never edited.

Prefect's run history records no user and gets pruned; this table keeps who asked for
what, how long it took and how it ended, so the platform team can see what to automate
next. Tasks done by hand are journaled too (``manual=True`` with ``minutes_spent``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry._support import require_text
from registry.models import JournalEntry

__all__ = [
    "REFUSED",
    "RunSummary",
    "append_journal",
    "append_run_state",
    "journal_for_run",
    "latest_journal",
    "pending_approval",
    "run_started_since",
    "run_summaries",
]

# The journal states flows.engine.approval appends around a pause.
_PAUSED = "Paused"
_ANSWERED = ("Approved", "Rejected")
# The state the gateway journals when it refuses someone's attempt on a run.
REFUSED = "Refused"


def append_journal(
    session: Session,
    *,
    flow_run_id: str | UUID,
    action: str,
    requester: str,
    team: str,
    service: str,
    parameters: dict[str, Any],
    state: str,
    started_at: datetime,
    ended_at: datetime | None = None,
    duration_seconds: float | None = None,
    error: str | None = None,
    manual: bool = False,
    minutes_spent: float | None = None,
) -> JournalEntry:
    """Append one state of one run (``state`` is Prefect's: Running, Completed, Failed...).

    ``parameters`` must be redacted and JSON-ready (``model_dump(mode="json")``) already.
    When ``ended_at`` is given without a duration, the duration is computed from it.
    """
    run_id = str(flow_run_id)
    require_text(run_id, what="flow run id", max_length=64)
    require_text(action, what="action", max_length=128)
    require_text(state, what="journal state", max_length=32)
    if duration_seconds is None and ended_at is not None:
        duration_seconds = (ended_at - started_at).total_seconds()
    entry = JournalEntry(
        flow_run_id=run_id,
        action=action,
        requester=requester,
        team=team,
        service=service,
        parameters=dict(parameters),
        state=state,
        started_at=started_at,
        ended_at=ended_at,
        duration_seconds=duration_seconds,
        error=error,
        manual=manual,
        minutes_spent=minutes_spent,
    )
    session.add(entry)
    session.flush()
    return entry


def append_run_state(
    session: Session,
    *,
    flow_run_id: str | UUID,
    state: str,
    key: str,
    extra: dict[str, Any],
    error: str | None = None,
) -> JournalEntry | None:
    """Append a state within a journaled run (Paused, Approved, Refused...), copying the
    run's first row and adding ``extra`` to its parameters under ``key``; None when the
    run has no journal yet."""
    first = session.scalars(
        select(JournalEntry)
        .where(JournalEntry.flow_run_id == str(flow_run_id))
        .order_by(JournalEntry.id)
        .limit(1)
    ).one_or_none()
    if first is None:
        return None
    return append_journal(
        session,
        flow_run_id=flow_run_id,
        action=first.action,
        requester=first.requester,
        team=first.team,
        service=first.service,
        parameters={**first.parameters, key: extra},
        state=state,
        started_at=first.started_at,
        error=error,
    )


def journal_for_run(session: Session, *, flow_run_id: str | UUID) -> list[JournalEntry]:
    """Every entry of one run, in the order they were appended."""
    return list(
        session.scalars(
            select(JournalEntry)
            .where(JournalEntry.flow_run_id == str(flow_run_id))
            .order_by(JournalEntry.id)
        )
    )


def latest_journal(
    session: Session,
    *,
    action: str | None = None,
    team: str | None = None,
    since: datetime | None = None,
    limit: int | None = 100,
) -> list[JournalEntry]:
    """The latest entry of each run (its current or final state), most recent first.

    Filters on action, team and runs started at or after ``since``; ``limit=None`` for all.
    """
    # Ids grow with every append and a run appends its states one after another, so the
    # highest id of a run is its latest state (timestamps could tie or drift).
    # A refusal at the gateway is somebody's attempt on the run, not a state of it.
    latest_ids = (
        select(func.max(JournalEntry.id))
        .where(JournalEntry.state != REFUSED)
        .group_by(JournalEntry.flow_run_id)
    )
    if action is not None:
        latest_ids = latest_ids.where(JournalEntry.action == action)
    if team is not None:
        latest_ids = latest_ids.where(JournalEntry.team == team)
    if since is not None:
        latest_ids = latest_ids.where(JournalEntry.started_at >= since)
    statement = (
        select(JournalEntry)
        .where(JournalEntry.id.in_(latest_ids.scalar_subquery()))
        .order_by(JournalEntry.id.desc())
    )
    if limit is not None:
        statement = statement.limit(limit)
    return list(session.scalars(statement))


def run_started_since(
    session: Session, *, service: str, since: datetime, other_than: str | UUID
) -> bool:
    """Whether a run of `service` other than `other_than` started at or after `since`."""
    statement = select(JournalEntry.id).where(
        JournalEntry.service == service,
        JournalEntry.flow_run_id != str(other_than),
        JournalEntry.started_at >= since,
    )
    return session.scalar(statement.limit(1)) is not None


def pending_approval(session: Session, *, flow_run_id: str | UUID) -> str | None:
    """The handle the run's open approval was sent to, or None when it has none.

    That is the ``approver`` of the run's latest ``Paused`` row, if no ``Approved`` or
    ``Rejected`` row came after it. The gateway lets only this person resume the run.
    """
    run_id = str(flow_run_id)
    paused = session.scalars(
        select(JournalEntry)
        .where(JournalEntry.flow_run_id == run_id, JournalEntry.state == _PAUSED)
        .order_by(JournalEntry.id.desc())
        .limit(1)
    ).one_or_none()
    if paused is None:
        return None
    answered = session.scalar(
        select(JournalEntry.id).where(
            JournalEntry.flow_run_id == run_id,
            JournalEntry.state.in_(_ANSWERED),
            JournalEntry.id > paused.id,
        )
    )
    if answered is not None:
        return None
    approval = paused.parameters.get("approval")
    approver = approval.get("approver") if isinstance(approval, dict) else None
    return approver if isinstance(approver, str) and approver else None


@dataclass(frozen=True)
class RunSummary:
    """One run as `paved journal list` shows it: who asked for what, and how it went."""

    flow_run_id: str
    action: str
    requester: str
    team: str
    service: str
    started_at: datetime
    state: str
    """Its latest state (Completed, Failed, Paused...); `Refused` rows do not count."""
    ended_at: datetime | None
    duration_seconds: float | None
    error: str | None
    approved_by: str | None
    """Who approved it, when it paused for an approval that was given."""
    refused: tuple[str, ...]
    """Who tried to resume or approve it and was refused at the gateway."""
    manual: bool


def run_summaries(
    session: Session,
    *,
    service: str | None = None,
    requester: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    limit: int | None = 50,
) -> list[RunSummary]:
    """Runs, newest first, with their latest state, approver and refused attempts."""
    runs = select(JournalEntry.flow_run_id).group_by(JournalEntry.flow_run_id)
    if service is not None:
        runs = runs.where(JournalEntry.service == service)
    if requester is not None:
        runs = runs.where(JournalEntry.requester == requester)
    if action is not None:
        runs = runs.where(JournalEntry.action == action)
    if since is not None:
        runs = runs.where(JournalEntry.started_at >= since)
    runs = runs.order_by(func.max(JournalEntry.id).desc())
    if limit is not None:
        runs = runs.limit(limit)
    run_ids = list(session.scalars(runs))
    rows = session.scalars(
        select(JournalEntry).where(JournalEntry.flow_run_id.in_(run_ids)).order_by(JournalEntry.id)
    )
    by_run: dict[str, list[JournalEntry]] = {}
    for row in rows:
        by_run.setdefault(row.flow_run_id, []).append(row)
    return [_summary(by_run[run_id]) for run_id in run_ids]


def _summary(entries: list[JournalEntry]) -> RunSummary:
    first = entries[0]
    states = [entry for entry in entries if entry.state != REFUSED] or entries
    last = states[-1]
    approved_by = None
    refused: list[str] = []
    for entry in entries:
        approval = entry.parameters.get("approval")
        if entry.state == "Approved" and isinstance(approval, dict):
            approved_by = str(approval.get("approved_by") or approval.get("approver") or "")
        refusal = entry.parameters.get("refused")
        if entry.state == REFUSED and isinstance(refusal, dict):
            refused.append(str(refusal.get("who", "?")))
    return RunSummary(
        flow_run_id=first.flow_run_id,
        action=first.action,
        requester=first.requester,
        team=first.team,
        service=first.service,
        started_at=first.started_at,
        state=last.state,
        ended_at=last.ended_at,
        duration_seconds=last.duration_seconds,
        error=last.error,
        approved_by=approved_by or None,
        refused=tuple(refused),
        manual=first.manual,
    )
