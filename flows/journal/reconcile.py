"""`journal:reconcile` — the journal hears about runs that could not journal themselves.

A run journals its own start and end (flows.engine.runtime.journaled), but a worker that dies,
a run cancelled from the UI or one that crashes before its code starts never reaches
that code. This flow reads Paved's recent flow runs from Prefect's API and appends the
final state of every run whose end the journal lacks, taking action, team, service and
requester from the run's tags (docs/architecture.md's journal tags) or its first journal
row.

A crashed run is also settled, since its process could do nothing more:
- its child runs still Running or Pending are marked Crashed too;
- what it left `provisioning` in the registry becomes `failed` (unless a later run of the
  service is at work), so the registry never says a service is being made when nothing is;
- its requester and the service's on-call contact are told, once (the notice is keyed by
  the crashed run: whoever notices first sends it).

It runs every 10 minutes and, through prefect.yaml's trigger, as soon as Prefect records a
Crashed state: the automation of paved.automations marks a run Crashed once its
heartbeats stop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from prefect import flow, get_run_logger
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterParentFlowRunId,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.states import Crashed
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from flows.engine.notify_failure import notify_run_failure
from flows.engine.session import registry_session
from registry import queries

__all__ = ["ReconcileResult", "crash_children", "journal_reconcile", "reconcile_runs"]

# Prefect final states the journal must hold for every run; Completed and Failed are
# normally written by the run itself, Crashed and Cancelled only ever by this flow.
_FINAL_TYPES = [StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED]
_PAGE = 200  # read_flow_runs pages at most 200
# Paved's own housekeeping runs on schedules (every minute for the outbox); journaling
# them would bury the requests people made.
HOUSEKEEPING = frozenset({"journal:reconcile", "journal:report", "registry:events:publish"})


_UNFINISHED_TYPES = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING]


class ReconcileResult(BaseModel):
    """What the reconciliation appended."""

    examined: int = Field(description="Final runs of Paved read from Prefect.")
    appended: list[str] = Field(description="`<run name>: <state>` for each journal row added.")
    children_crashed: list[str] = Field(
        default_factory=list, description="Child runs of crashed runs this run marked Crashed."
    )


def _tag(run: FlowRun, prefix: str) -> str:
    for tag in run.tags:
        if tag.startswith(prefix):
            return tag[len(prefix) :]
    return "unknown"


def _about(run: FlowRun, tag: str, *fields: str) -> str:
    """What the run is about, from its tag, else from its request: a run that died before
    its code tagged it (service, team) still names them in its parameters."""
    tagged = _tag(run, f"{tag}:")
    if tagged != "unknown":
        return tagged
    request = run.parameters.get("request")
    if isinstance(request, dict):
        for name in fields:
            value = request.get(name)
            if isinstance(value, str) and value:
                return value
    return "unknown"


def _utc(moment: datetime | None) -> datetime | None:
    # Prefect hands back Pendulum datetimes; the registry takes standard-library ones.
    return None if moment is None else datetime.fromtimestamp(moment.timestamp(), UTC)


@dataclass
class _Crash:
    run: FlowRun
    action: str
    requester: str
    service: str
    message: str


def reconcile_runs(runs: list[FlowRun]) -> list[str]:
    """Append the final state of each run the journal lacks, and settle the crashed ones
    (module docstring); returns what it appended."""
    appended: list[str] = []
    crashes: list[_Crash] = []
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
            action = first.action if first else _tag(run, "action:")
            requester = first.requester if first else _about(run, "requester", "requester")
            service = first.service if first else _about(run, "service", "service", "name")
            queries.append_journal(
                session,
                flow_run_id=str(run.id),
                action=action,
                requester=requester,
                team=first.team if first else _about(run, "team", "team"),
                service=service,
                parameters=first.parameters if first else {},
                state=run.state.name,
                started_at=started or datetime.now(UTC),
                ended_at=ended,
                error=run.state.message if run.state.type != StateType.COMPLETED else None,
            )
            appended.append(f"{run.name}: {run.state.name}")
            if run.state.type == StateType.CRASHED and service != "unknown":
                message = run.state.message or "its process stopped"
                crashes.append(_Crash(run, action, requester, service, message))
                _settle(session, run, service=service, started=started, message=message)
    # After the journal's commit: a notice names a run the journal already holds.
    for crash in crashes:
        notify_run_failure(
            action=crash.action,
            flow_run_id=str(crash.run.id),
            flow_run_name=crash.run.name,
            requester=crash.requester,
            service=crash.service,
            error=crash.message,
            crashed=True,
        )
    return appended


def _settle(
    session: Session, run: FlowRun, *, service: str, started: datetime | None, message: str
) -> None:
    """The registry's statuses left by a crashed run of `service`, unless a later run is
    writing them (it will set them itself)."""
    since = started or datetime.now(UTC)
    if queries.run_started_since(session, service=service, since=since, other_than=run.id):
        return
    settled = queries.settle_unfinished(
        session, service=service, error=f"run {run.name} crashed: {message}"
    )
    if settled:
        get_run_logger().info(
            "Run %s crashed: %d resource(s) of %s it left provisioning are now failed",
            run.name,
            settled,
            service,
        )


def crash_children(client: SyncPrefectClient, crashed: list[FlowRun]) -> list[str]:
    """Mark Crashed every child run of the crashed runs still scheduled, pending or
    running: its parent's process, which ran it, is gone. Returns their names."""
    if not crashed:
        return []
    children = client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[run.id for run in crashed]),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=_UNFINISHED_TYPES)),
        ),
        limit=_PAGE,
    )
    for child in children:
        client.set_flow_run_state(
            child.id, Crashed(message="Its parent run crashed, and with it this run."), force=True
        )
    return [child.name for child in children]


@flow(
    name="journal-reconcile",
    description="journal:reconcile: journal the end of Paved runs that could not do it.",
)
def journal_reconcile(since_hours: int = 24) -> ReconcileResult:
    """Reconcile the registry journal with Prefect's runs of the last `since_hours`."""
    since = datetime.now(UTC) - timedelta(hours=since_hours)
    with get_client(sync_client=True) as client:
        runs = _final_runs(client, since)
        # The children are read as final runs on a second pass, and journaled with them.
        children = crash_children(client, [r for r in runs if r.state and r.state.is_crashed()])
        if children:
            runs = _final_runs(client, since)
    appended = reconcile_runs(runs)
    get_run_logger().info(
        "Examined %d runs; journaled %s%s",
        len(runs),
        appended or "nothing",
        f"; crashed with their parent: {children}" if children else "",
    )
    return ReconcileResult(examined=len(runs), appended=appended, children_crashed=children)


def _final_runs(client: SyncPrefectClient, since: datetime) -> list[FlowRun]:
    runs: list[FlowRun] = []
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
            return runs
