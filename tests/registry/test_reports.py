"""The journal report, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from registry import queries
from registry.reports import (
    MANUAL_ACTION,
    build_report,
    percentile,
    record_manual_task,
    requests_per_week,
)

NOW = datetime.now(UTC)


def run(
    session: Session,
    run_id: str,
    action: str,
    *,
    team: str = "platform",
    end: str | None = "Completed",
    seconds: float = 10.0,
    error: str | None = None,
    started_at: datetime | None = None,
) -> None:
    """A run journaled as automated runs are: Running, then its end."""
    start = started_at or NOW - timedelta(hours=1)
    common = {
        "flow_run_id": run_id,
        "action": action,
        "requester": "bob",
        "team": team,
        "service": "hello",
        "parameters": {},
        "started_at": start,
    }
    queries.append_journal(session, state="Running", **common)  # type: ignore[arg-type]
    if end is not None:
        queries.append_journal(
            session,
            state=end,
            ended_at=start + timedelta(seconds=seconds),
            error=error,
            **common,  # type: ignore[arg-type]
        )


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0], 0.95) == 3.0
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.95) == 95.0


def test_report_counts_durations_and_failures(session: Session) -> None:
    for n in range(8):
        run(session, f"c{n}", "service:create", seconds=10.0 * (n + 1))
    run(session, "f1", "service:create", end="Failed", error="ProviderError: github 502\nmore")
    run(session, "f2", "kafka:topics:create", team="payments", end="Crashed", error=None)
    run(session, "r1", "kafka:topics:create", team="payments", end=None)
    run(session, "old", "service:create", started_at=NOW - timedelta(days=60))

    report = build_report(session, since=NOW - timedelta(days=30))

    assert report.runs == 11
    assert report.by_action == {"service:create": 9, "kafka:topics:create": 2}
    assert report.by_team == {"platform": 9, "payments": 2}
    assert report.by_state == {"Completed": 8, "Failed": 1, "Crashed": 1, "Running": 1}
    assert report.failure_rate == pytest.approx(2 / 10)
    # 10..80 s completed, and the two failures of 10 s each.
    assert report.p50_seconds == 30.0
    assert report.p95_seconds == 80.0
    assert [(r.reason, r.count) for r in report.top_failure_reasons] == [
        ("ProviderError: github 502", 1),
        ("no error recorded", 1),
    ]
    create, topics = report.actions
    assert (create.action, create.runs, create.completed, create.failed) == (
        "service:create",
        9,
        8,
        1,
    )
    assert create.failure_rate == pytest.approx(1 / 9)
    assert (topics.runs, topics.failed, topics.failure_rate) == (2, 1, 1.0)
    assert report.manual_tasks == 0 and report.automation_candidates == []


def test_manual_tasks_are_ranked_by_count_times_minutes(session: Session) -> None:
    run(session, "c1", "service:create")
    for _ in range(3):
        record_manual_task(
            session,
            what="Rotate the Kafka credentials of a team",
            category="credentials",
            requester="bob",
            team="platform",
            minutes_spent=20,
        )
    record_manual_task(
        session,
        what="Restore a dropped table from backup",
        category="database",
        requester="carol",
        team="payments",
        service="orders",
        minutes_spent=90,
        flow_run_id="run-42",
    )

    report = build_report(session, since=NOW - timedelta(days=7))

    assert report.runs == 5
    assert report.by_action == {MANUAL_ACTION: 4, "service:create": 1}
    assert report.manual_tasks == 4 and report.manual_minutes == 150
    assert [(c.category, c.count, c.score) for c in report.automation_candidates] == [
        ("database", 1, 90.0),
        ("credentials", 3, 60.0),
    ]
    assert report.automation_candidates[0].example == "Restore a dropped table from backup"
    # Manual tasks count in the totals, not in automated durations or failure rate.
    assert [a.action for a in report.actions] == ["service:create"]
    assert report.p50_seconds == 10.0 and report.failure_rate == 0.0
    [entry] = queries.journal_for_run(session, flow_run_id="run-42")
    assert entry.manual and entry.state == "Completed" and entry.minutes_spent == 90


def test_an_empty_journal_gives_an_empty_report(session: Session) -> None:
    report = build_report(session, since=NOW - timedelta(days=30))
    assert report.runs == 0
    assert report.p50_seconds is None and report.failure_rate == 0.0


def manual_run(session: Session, run_id: str, category: str | None, started_at: datetime) -> None:
    """A manual task journaled at a chosen moment (record_manual_task stamps `now`)."""
    queries.append_journal(
        session,
        flow_run_id=run_id,
        action=MANUAL_ACTION,
        requester="bob",
        team="platform",
        service="",
        parameters={"what": "Something done by hand", "category": category},
        state="Completed",
        started_at=started_at,
        ended_at=started_at,
        manual=True,
        minutes_spent=15,
    )


def test_requests_per_week_counts_each_run_once_in_its_utc_iso_week(session: Session) -> None:
    # 2025-05-05 and 2025-05-19 are Mondays; 2025-05-11 a Sunday.
    monday = datetime(2025, 5, 5, tzinfo=UTC)
    run(session, "a", "service:create", started_at=monday)
    run(session, "b", "service:create", started_at=monday + timedelta(days=6, hours=23))
    run(session, "c", "kafka:topics:create", end="Failed", started_at=monday + timedelta(days=2))
    run(session, "d", "kafka:topics:create", end=None, started_at=monday + timedelta(days=14))
    # Monday 01:00 in UTC+2 is Sunday 23:00 UTC: the week before, whatever the database's
    # or the session's time zone.
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL TIME ZONE 'Pacific/Auckland'"))
    plus_two = timezone(timedelta(hours=2))
    run(session, "e", "service:create", started_at=datetime(2025, 5, 19, 1, tzinfo=plus_two))
    manual_run(session, "m1", "dns", monday + timedelta(days=1))
    manual_run(session, "m2", "dns", monday + timedelta(days=3))
    manual_run(session, "m3", "database", monday + timedelta(days=15))
    manual_run(session, "m4", None, monday + timedelta(days=15))
    run(session, "old", "service:create", started_at=monday - timedelta(days=1))

    weeks = requests_per_week(session, since=monday)

    assert weeks == {
        date(2025, 5, 5): {"service:create": 2, "kafka:topics:create": 1, "manual: dns": 2},
        date(2025, 5, 12): {"service:create": 1},
        date(2025, 5, 19): {
            "kafka:topics:create": 1,
            "manual: database": 1,
            "manual: uncategorized": 1,
        },
    }
    assert list(weeks) == sorted(weeks)
    # The chart and the report agree on what a run is and which runs are in the period.
    report = build_report(session, since=monday)
    assert sum(sum(counts.values()) for counts in weeks.values()) == report.runs == 9


def test_requests_per_week_of_an_empty_period(session: Session) -> None:
    run(session, "old", "service:create", started_at=NOW - timedelta(days=60))
    assert requests_per_week(session, since=NOW - timedelta(days=30)) == {}
