"""The journal report: what Paved did, how well, and what SREs still do by hand.

``build_report`` reads the journal since a moment and answers, for the `journal:report`
flow and `paved journal report` alike: runs by action, team and final state; p50 and p95
durations; the failure rate and the commonest failure reasons; and manual tasks (journal
rows with ``manual=True``) ranked by count x minutes as automation candidates, next to
the actions already automated. ``requests_per_week`` counts runs per ISO week and action
for the report's chart. ``record_manual_task`` journals one task done by hand.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any
from uuid import uuid4

from pydantic import BaseModel, Field
from sqlalchemy import Date, case, func, literal, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from registry.journal import REFUSED, append_journal, latest_journal
from registry.models import JournalEntry, utc_now

__all__ = [
    "FAILED_STATES",
    "MANUAL_ACTION",
    "MANUAL_PREFIX",
    "ActionStats",
    "AutomationCandidate",
    "JournalReport",
    "build_report",
    "percentile",
    "record_manual_task",
    "requests_per_week",
    "week_start",
]

# The action id of tasks done by hand; their category is in the journaled parameters.
MANUAL_ACTION = "ops:manual-task:record"
# Manual tasks are charted per category ("manual: dns"), next to the automated actions.
MANUAL_PREFIX = "manual: "
_UNCATEGORIZED = "uncategorized"
FAILED_STATES = frozenset({"Failed", "Crashed"})
_FINAL_STATES = FAILED_STATES | {"Completed", "Cancelled"}
_TOP_REASONS = 10
_REASON_LENGTH = 200


class ActionStats(BaseModel):
    """How one automated action did."""

    action: str = Field(description="Action id, e.g. `service:create`.")
    runs: int = Field(description="Runs started in the period.")
    completed: int = Field(description="Runs that completed.")
    failed: int = Field(description="Runs that failed or crashed.")
    failure_rate: float = Field(description="Failed / finished runs, 0 when none finished.")
    p50_seconds: float | None = Field(description="Median duration of finished runs.")
    p95_seconds: float | None = Field(description="95th percentile duration of finished runs.")


class AutomationCandidate(BaseModel):
    """A kind of task still done by hand, with what it costs."""

    category: str = Field(description="Category given when the task was logged.")
    count: int = Field(description="Times it was done in the period.")
    total_minutes: float = Field(description="Minutes spent on it, all told.")
    mean_minutes: float = Field(description="Minutes per task on average.")
    score: float = Field(description="count x mean minutes: the ranking key.")
    example: str = Field(description="The latest `what` logged in this category.")


class FailureReason(BaseModel):
    """An error seen on failed runs and how often."""

    reason: str = Field(description="First line of the error, shortened.")
    count: int = Field(description="Failed runs with this error.")


class JournalReport(BaseModel):
    """The journal since ``since``: counts, durations, failures, automation candidates."""

    since: datetime = Field(description="Start of the period (UTC).")
    generated_at: datetime = Field(description="When the report was built (UTC).")
    runs: int = Field(description="Runs (automated and manual) in the period.")
    by_action: dict[str, int] = Field(description="Runs per action.")
    by_team: dict[str, int] = Field(description="Runs per team.")
    by_state: dict[str, int] = Field(description="Runs per final (or current) state.")
    p50_seconds: float | None = Field(description="Median duration of finished automated runs.")
    p95_seconds: float | None = Field(description="p95 duration of finished automated runs.")
    failure_rate: float = Field(description="Failed / finished automated runs.")
    top_failure_reasons: list[FailureReason] = Field(description="Commonest errors first.")
    actions: list[ActionStats] = Field(description="Automated actions, most runs first.")
    manual_tasks: int = Field(description="Manual tasks logged in the period.")
    manual_minutes: float = Field(description="Minutes spent on manual tasks.")
    automation_candidates: list[AutomationCandidate] = Field(
        description="Manual task categories, highest count x minutes first."
    )


def percentile(values: Iterable[float], fraction: float) -> float | None:
    """The nearest-rank percentile (``fraction`` in 0..1) of ``values``; None if empty."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def _reason(error: str | None) -> str:
    lines = (error or "").strip().splitlines()
    text = lines[0] if lines else "no error recorded"
    return text if len(text) <= _REASON_LENGTH else text[: _REASON_LENGTH - 1] + "…"


def _failure_rate(entries: list[JournalEntry]) -> float:
    finished = [e for e in entries if e.state in _FINAL_STATES]
    if not finished:
        return 0.0
    return sum(e.state in FAILED_STATES for e in finished) / len(finished)


def _durations(entries: list[JournalEntry]) -> list[float]:
    return [
        e.duration_seconds
        for e in entries
        if e.state in _FINAL_STATES and e.duration_seconds is not None
    ]


def _action_stats(action: str, entries: list[JournalEntry]) -> ActionStats:
    durations = _durations(entries)
    return ActionStats(
        action=action,
        runs=len(entries),
        completed=sum(e.state == "Completed" for e in entries),
        failed=sum(e.state in FAILED_STATES for e in entries),
        failure_rate=_failure_rate(entries),
        p50_seconds=percentile(durations, 0.5),
        p95_seconds=percentile(durations, 0.95),
    )


def _candidates(manual: list[JournalEntry]) -> list[AutomationCandidate]:
    by_category: dict[str, list[JournalEntry]] = defaultdict(list)
    for entry in manual:
        by_category[str(entry.parameters.get("category") or _UNCATEGORIZED)].append(entry)
    candidates = []
    for category, entries in by_category.items():
        total = sum(e.minutes_spent or 0.0 for e in entries)
        mean = total / len(entries)
        latest = max(entries, key=lambda e: e.id)
        candidates.append(
            AutomationCandidate(
                category=category,
                count=len(entries),
                total_minutes=total,
                mean_minutes=mean,
                score=len(entries) * mean,
                example=str(latest.parameters.get("what", "")),
            )
        )
    return sorted(candidates, key=lambda c: (-c.score, c.category))


def build_report(session: Session, *, since: datetime) -> JournalReport:
    """The report on every run started at or after ``since``, each counted once in its
    latest journaled state."""
    entries = latest_journal(session, since=since, limit=None)
    manual = [e for e in entries if e.manual]
    automated = [e for e in entries if not e.manual]
    by_action: dict[str, list[JournalEntry]] = defaultdict(list)
    for entry in automated:
        by_action[entry.action].append(entry)
    durations = _durations(automated)
    reasons = Counter(_reason(e.error) for e in automated if e.state in FAILED_STATES)
    return JournalReport(
        since=since,
        generated_at=utc_now(),
        runs=len(entries),
        by_action=dict(Counter(e.action for e in entries).most_common()),
        by_team=dict(Counter(e.team for e in entries).most_common()),
        by_state=dict(Counter(e.state for e in entries).most_common()),
        p50_seconds=percentile(durations, 0.5),
        p95_seconds=percentile(durations, 0.95),
        failure_rate=_failure_rate(automated),
        top_failure_reasons=[
            FailureReason(reason=reason, count=count)
            for reason, count in sorted(reasons.items(), key=lambda item: (-item[1], item[0]))[
                :_TOP_REASONS
            ]
        ],
        actions=sorted(
            (_action_stats(action, rows) for action, rows in by_action.items()),
            key=lambda stats: (-stats.runs, stats.action),
        ),
        manual_tasks=len(manual),
        manual_minutes=sum(e.minutes_spent or 0.0 for e in manual),
        automation_candidates=_candidates(manual),
    )


class week_start(FunctionElement[date]):
    """SQL ``week_start(column)``: the Monday (UTC) starting the ISO week of a UTC
    timestamp column, as a DATE; group by it for anything per week.

    Neither database has a portable way to say it: PostgreSQL truncates to the week
    (``date_trunc`` weeks start on Monday) after moving the ``timestamptz`` to UTC, so the
    session's time zone does not matter; SQLite holds naive UTC text, goes back 6 days,
    then forward to the next Monday (on or after that day).
    """

    type = Date()
    name = "week_start"
    inherit_cache = True


@compiles(week_start, "postgresql")
def _week_start_postgresql(element: week_start, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"CAST(date_trunc('week', ({column}) AT TIME ZONE 'UTC') AS DATE)"


@compiles(week_start, "sqlite")
def _week_start_sqlite(element: week_start, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"date({column}, '-6 days', 'weekday 1')"


def requests_per_week(session: Session, *, since: datetime) -> dict[date, dict[str, int]]:
    """Runs started at or after ``since``, per ISO week (its Monday, UTC) and per action.

    Each run is counted once, whatever its state, in the week it started, as
    ``build_report`` counts it. Manual tasks are counted per category, as
    ``"manual: <category>"``: one "manual task" band would hide which kind of hand work
    grows, and the category is the unit the automation candidates rank. Weeks without
    runs are absent; the first week holds only the runs since ``since``.
    """
    # The latest entry of each run, as `latest_journal` picks it: the highest id.
    latest = (
        select(func.max(JournalEntry.id))
        .where(JournalEntry.started_at >= since, JournalEntry.state != REFUSED)
        .group_by(JournalEntry.flow_run_id)
    )
    category = func.coalesce(
        func.nullif(JournalEntry.parameters["category"].as_string(), ""), _UNCATEGORIZED
    )
    runs = (
        select(
            week_start(JournalEntry.started_at).label("week"),
            case(
                (JournalEntry.manual, literal(MANUAL_PREFIX) + category),
                else_=JournalEntry.action,
            ).label("action"),
        )
        .where(JournalEntry.id.in_(latest.scalar_subquery()))
        .subquery()
    )
    # Grouped outside: PostgreSQL cannot match a GROUP BY expression holding bound
    # parameters (the JSON key, the prefix) with the same expression in the SELECT.
    counts = select(runs.c.week, runs.c.action, func.count()).group_by(runs.c.week, runs.c.action)
    weeks: dict[date, dict[str, int]] = {}
    for week, action, count in session.execute(counts):
        weeks.setdefault(week, {})[action] = count
    return dict(sorted(weeks.items()))


def record_manual_task(
    session: Session,
    *,
    what: str,
    category: str,
    requester: str,
    team: str,
    minutes_spent: float,
    service: str | None = None,
    flow_run_id: str | None = None,
) -> JournalEntry:
    """Journal one task done by hand, Completed, with the minutes it took.

    ``flow_run_id`` is the run of `ops:manual-task:record` that logged it; logged from
    the CLI, the task gets an id of its own (``manual-<uuid>``).
    """
    now = utc_now()
    return append_journal(
        session,
        flow_run_id=flow_run_id or f"manual-{uuid4()}",
        action=MANUAL_ACTION,
        requester=requester,
        team=team,
        service=service or "",
        parameters={"what": what, "category": category, "minutes_spent": minutes_spent},
        state="Completed",
        started_at=now,
        ended_at=now,
        duration_seconds=minutes_spent * 60,
        manual=True,
        minutes_spent=minutes_spent,
    )
