"""`journal:reconcile` — the journal hears about runs that could not journal themselves.

A run journals its own start and end (flows.engine.runtime.journaled), but a worker that dies,
a run cancelled from the UI or one that crashes before its code starts never reaches
that code. This flow reads Paved's recent flow runs from Prefect's API and appends the
final state of every run whose end the journal lacks, taking action, team, service and
requester from the run's tags (DESIGN.md's journal tags) or its first journal row.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prefect import flow, get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import FlowRun, StateType
from pydantic import BaseModel, Field

from flows.engine.session import registry_session
from registry import queries

__all__ = ["ReconcileResult", "journal_reconcile", "reconcile_runs"]

# Prefect final states the journal must hold for every run; Completed and Failed are
# normally written by the run itself, Crashed and Cancelled only ever by this flow.
_FINAL_TYPES = [StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED]
_PAGE = 200  # read_flow_runs pages at most 200
# Paved's own housekeeping runs on schedules (every minute for the outbox); journaling
# them would bury the requests people made.
HOUSEKEEPING = frozenset({"journal:reconcile", "journal:report", "registry:events:publish"})


class ReconcileResult(BaseModel):
    """What the reconciliation appended."""

    examined: int = Field(description="Final runs of Paved read from Prefect.")
    appended: list[str] = Field(description="`<run name>: <state>` for each journal row added.")


def _tag(run: FlowRun, prefix: str) -> str:
    for tag in run.tags:
        if tag.startswith(prefix):
            return tag[len(prefix) :]
    return "unknown"


def _utc(moment: datetime | None) -> datetime | None:
    # Prefect hands back Pendulum datetimes; the registry takes standard-library ones.
    return None if moment is None else datetime.fromtimestamp(moment.timestamp(), UTC)


def reconcile_runs(runs: list[FlowRun]) -> list[str]:
    """Append the final state of each run the journal lacks; returns what it appended."""
    appended: list[str] = []
    with registry_session() as session:
        for run in runs:
            if run.state is None or run.state.name is None:
                continue
            if _tag(run, "action:") in HOUSEKEEPING:
                continue
            entries = queries.journal_for_run(session, flow_run_id=str(run.id))
            if any(entry.ended_at is not None for entry in entries):
                continue  # the run journaled its own end
            first = entries[0] if entries else None
            ended = _utc(run.end_time or run.state.timestamp)
            started = _utc(run.start_time or run.expected_start_time or run.created) or ended
            queries.append_journal(
                session,
                flow_run_id=str(run.id),
                action=first.action if first else _tag(run, "action:"),
                requester=first.requester if first else _tag(run, "requester:"),
                team=first.team if first else _tag(run, "team:"),
                service=first.service if first else _tag(run, "service:"),
                parameters=first.parameters if first else {},
                state=run.state.name,
                started_at=started or datetime.now(UTC),
                ended_at=ended,
                error=run.state.message if run.state.type != StateType.COMPLETED else None,
            )
            appended.append(f"{run.name}: {run.state.name}")
    return appended


@flow(
    name="journal-reconcile",
    description="journal:reconcile: journal the end of Paved runs that could not do it.",
)
def journal_reconcile(since_hours: int = 24) -> ReconcileResult:
    """Reconcile the registry journal with Prefect's runs of the last `since_hours`."""
    since = datetime.now(UTC) - timedelta(hours=since_hours)
    runs: list[FlowRun] = []
    with get_client(sync_client=True) as client:
        while True:
            page = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    tags=FlowRunFilterTags(all_=["paved"]),
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=_FINAL_TYPES)),
                    # Expected, not actual, start: a run that crashed before starting
                    # has no start time and is exactly what this flow is for.
                    expected_start_time=FlowRunFilterExpectedStartTime(
                        after_=since  # type: ignore[arg-type]
                    ),
                ),
                limit=_PAGE,
                offset=len(runs),
            )
            runs.extend(page)
            if len(page) < _PAGE:
                break
    appended = reconcile_runs(runs)
    get_run_logger().info("Examined %d runs; journaled %s", len(runs), appended or "nothing")
    return ReconcileResult(examined=len(runs), appended=appended)
