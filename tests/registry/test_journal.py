"""The append-only journal, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from registry import queries
from registry.db import session_scope
from registry.errors import PolicyViolation
from registry.models import JournalEntry

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def _run(
    session: Session,
    run_id: str,
    states: list[str],
    *,
    action: str = "github:repo:create",
    team: str = "platform",
    **extra: Any,
) -> list[JournalEntry]:
    entries = []
    for number, state in enumerate(states):
        final = state not in ("Scheduled", "Running", "Paused")
        entries.append(
            queries.append_journal(
                session,
                flow_run_id=run_id,
                action=action,
                requester="bob",
                team=team,
                service="hello",
                parameters={"name": "hello", "token": "**********"},
                state=state,
                started_at=T0,
                ended_at=T0 + timedelta(seconds=number + 1) if final else None,
                **extra,
            )
        )
    return entries


def test_append_journal_records_a_state(session: Session) -> None:
    entry = queries.append_journal(
        session,
        flow_run_id=uuid.UUID(int=1),
        action="github:repo:create",
        requester="bob",
        team="platform",
        service="hello",
        parameters={"name": "hello"},
        state="Running",
        started_at=T0,
    )
    assert entry.id is not None
    assert entry.flow_run_id == "00000000-0000-0000-0000-000000000001"
    assert entry.ended_at is None and entry.duration_seconds is None
    assert entry.manual is False and entry.recorded_at.tzinfo is not None


def test_the_duration_is_computed_from_the_end(session: Session) -> None:
    [_, done] = _run(session, "r1", ["Running", "Completed"])
    assert done.duration_seconds == 2.0
    explicit = queries.append_journal(
        session,
        flow_run_id="r2",
        action="a",
        requester="bob",
        team="t",
        service="s",
        parameters={},
        state="Failed",
        started_at=T0,
        ended_at=T0 + timedelta(seconds=5),
        duration_seconds=4.5,
        error="Permanent: 422 from GitHub",
    )
    assert explicit.duration_seconds == 4.5 and explicit.error == "Permanent: 422 from GitHub"


def test_manual_tasks_are_journaled_with_the_time_spent(session: Session) -> None:
    entry = queries.append_journal(
        session,
        flow_run_id="manual-1",
        action="aws:iam:grant",
        requester="alice",
        team="platform",
        service="hello",
        parameters={},
        state="Completed",
        started_at=T0,
        ended_at=T0 + timedelta(minutes=30),
        manual=True,
        minutes_spent=30,
    )
    assert entry.manual is True and entry.minutes_spent == 30


def test_journal_for_run_is_in_append_order(session: Session) -> None:
    _run(session, "r1", ["Scheduled", "Running", "Completed"])
    _run(session, "r2", ["Running"])
    states = [e.state for e in queries.journal_for_run(session, flow_run_id="r1")]
    assert states == ["Scheduled", "Running", "Completed"]
    assert queries.journal_for_run(session, flow_run_id="nope") == []


def test_latest_journal_gives_the_latest_row_per_run(session: Session) -> None:
    _run(session, "r1", ["Running", "Failed"])
    _run(session, "r2", ["Running", "Completed"], team="payments")
    _run(session, "r3", ["Running"], action="kafka:topic:create")
    latest = queries.latest_journal(session)
    assert [(e.flow_run_id, e.state) for e in latest] == [
        ("r3", "Running"),
        ("r2", "Completed"),
        ("r1", "Failed"),
    ]
    assert [e.flow_run_id for e in queries.latest_journal(session, team="payments")] == ["r2"]
    by_action = queries.latest_journal(session, action="github:repo:create")
    assert [e.flow_run_id for e in by_action] == ["r2", "r1"]
    assert [e.flow_run_id for e in queries.latest_journal(session, limit=1)] == ["r3"]
    assert queries.latest_journal(session, since=T0 + timedelta(days=1)) == []


def test_a_run_resumed_later_reports_its_newest_state(session: Session) -> None:
    _run(session, "r1", ["Running", "Failed"])
    _run(session, "r2", ["Running", "Completed"])
    _run(session, "r1", ["Running", "Completed"])  # the same run, retried
    latest = queries.latest_journal(session)
    assert [(e.flow_run_id, e.state) for e in latest] == [("r1", "Completed"), ("r2", "Completed")]


def test_entries_cannot_be_changed(engine: Engine) -> None:
    with session_scope(engine) as session:
        [entry] = _run(session, "r1", ["Running"])
    with pytest.raises(TypeError, match="append-only"), session_scope(engine) as session:
        stored = session.get(JournalEntry, entry.id)
        assert stored is not None
        stored.state = "Completed"
    with session_scope(engine) as session:
        assert [e.state for e in queries.journal_for_run(session, flow_run_id="r1")] == ["Running"]


def test_entries_cannot_be_deleted(engine: Engine) -> None:
    with session_scope(engine) as session:
        [entry] = _run(session, "r1", ["Running"])
    with pytest.raises(TypeError, match="append-only"), session_scope(engine) as session:
        session.delete(session.get(JournalEntry, entry.id))
    with session_scope(engine) as session:
        assert len(queries.journal_for_run(session, flow_run_id="r1")) == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("flow_run_id", "", "flow run id"), ("action", " ", "action"), ("state", "", "state")],
)
def test_required_fields(session: Session, field: str, value: str, message: str) -> None:
    entry: dict[str, Any] = {
        "flow_run_id": "r1",
        "action": "a",
        "requester": "bob",
        "team": "t",
        "service": "s",
        "parameters": {},
        "state": "Running",
        "started_at": T0,
        field: value,
    }
    with pytest.raises(PolicyViolation, match=message):
        queries.append_journal(session, **entry)


def _approval_row(session: Session, run_id: str, state: str, approver: str | None) -> None:
    approval = {"action": "access:grant", "summary": "push"}
    if approver is not None:
        approval["approver"] = approver
    queries.append_journal(
        session,
        flow_run_id=run_id,
        action="access:grant",
        requester="dave",
        team="payments",
        service="orders",
        parameters={"service": "orders", "approval": approval},
        state=state,
        started_at=T0,
    )


def test_pending_approval_names_who_the_open_approval_was_sent_to(session: Session) -> None:
    _run(session, "r1", ["Running"])
    assert queries.pending_approval(session, flow_run_id="r1") is None  # never paused
    _approval_row(session, "r1", "Paused", "carol")
    assert queries.pending_approval(session, flow_run_id="r1") == "carol"
    assert queries.pending_approval(session, flow_run_id="other") is None

    _approval_row(session, "r1", "Approved", "carol")
    assert queries.pending_approval(session, flow_run_id="r1") is None  # answered

    # A second pause in the same run (another approval) is open again, to its approver.
    _approval_row(session, "r1", "Paused", "alice")
    assert queries.pending_approval(session, flow_run_id="r1") == "alice"
    _approval_row(session, "r1", "Rejected", "alice")
    assert queries.pending_approval(session, flow_run_id="r1") is None


def test_pending_approval_without_an_approver_is_none(session: Session) -> None:
    # Rows written before approvals named their approver give the gateway nobody.
    _approval_row(session, "r2", "Paused", None)
    assert queries.pending_approval(session, flow_run_id="r2") is None


def test_run_summaries_say_who_asked_who_approved_and_who_was_refused(session: Session) -> None:
    _run(session, "granted", ["Running"], action="access:grant")
    queries.append_run_state(
        session,
        flow_run_id="granted",
        state="Paused",
        key="approval",
        extra={"approver": "carol"},
    )
    assert queries.pending_approval(session, flow_run_id="granted") == "carol"
    for who in ("dave", "erin"):
        queries.append_run_state(
            session,
            flow_run_id="granted",
            state=queries.REFUSED,
            key="refused",
            extra={"who": who, "tried": "resume"},
            error=f"you are {who}; only carol may resume it",
        )
    # A refusal is an attempt on the run, not a state of it: the run is still Paused.
    assert queries.latest_journal(session, action="access:grant")[0].state == "Paused"
    queries.append_run_state(
        session,
        flow_run_id="granted",
        state="Approved",
        key="approval",
        extra={"approver": "carol", "approved_by": "carol"},
    )
    assert queries.pending_approval(session, flow_run_id="granted") is None
    _run(session, "granted", ["Completed"], action="access:grant")
    _run(session, "other", ["Running", "Failed"], action="service:create")

    newest, older = queries.run_summaries(session)
    assert (newest.flow_run_id, newest.state, newest.error) == ("other", "Failed", None)
    assert (older.flow_run_id, older.action, older.requester) == ("granted", "access:grant", "bob")
    assert (older.state, older.approved_by, older.refused) == (
        "Completed",
        "carol",
        ("dave", "erin"),
    )
    assert [r.flow_run_id for r in queries.run_summaries(session, action="access:grant")] == [
        "granted"
    ]
    assert queries.run_summaries(session, requester="nobody") == []


def test_append_run_state_needs_a_journaled_run(session: Session) -> None:
    assert (
        queries.append_run_state(
            session, flow_run_id="never-started", state="Refused", key="refused", extra={}
        )
        is None
    )
