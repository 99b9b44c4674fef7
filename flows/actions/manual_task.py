"""`ops:manual-task:record` — journal a task the SRE team still did by hand.

Logged tasks are counted like every run of Paved, and `journal:report` ranks their
categories by count x minutes as automation candidates. The journal row is the run's
only one: `manual=True`, state Completed, with the minutes spent.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from flows.engine.runtime import request_field, run_tags
from flows.engine.session import registry_session
from flows.request_models.manual_task import ManualTaskRequest
from registry import queries
from registry.reports import MANUAL_ACTION, record_manual_task

__all__ = ["ACTION", "ManualTaskRequest", "ManualTaskResult", "manual_task_record"]

ACTION = MANUAL_ACTION


class ManualTaskResult(BaseModel):
    """The journal row written."""

    journal_id: int | None = Field(description="Id of the journal row; None on a dry run.")
    flow_run_id: str = Field(description="The run (or CLI log) the row belongs to.")


def record(request: ManualTaskRequest, *, flow_run_id: str | None = None) -> ManualTaskResult:
    """Check the team (and service) exist, then journal the task unless it is a dry run
    (also used by `paved journal log`)."""
    with registry_session() as session:
        return record_in(session, request, flow_run_id=flow_run_id)


def record_in(
    session: Session, request: ManualTaskRequest, *, flow_run_id: str | None = None
) -> ManualTaskResult:
    """`record` on a session the caller holds."""
    queries.require_team(session, slug=request.team)
    if request.service is not None:
        queries.require_service(session, name=request.service)
    if request.dry_run:
        return ManualTaskResult(journal_id=None, flow_run_id=flow_run_id or "")
    entry = record_manual_task(
        session,
        what=request.what,
        category=request.category,
        requester=request.requester,
        team=request.team,
        service=request.service,
        minutes_spent=request.minutes_spent,
        flow_run_id=flow_run_id,
    )
    return ManualTaskResult(journal_id=entry.id, flow_run_id=entry.flow_run_id)


def _run_name() -> str:
    return f"manual/{request_field('team')}/{request_field('category')}"


@flow(name="manual-task-record", flow_run_name=_run_name)
def manual_task_record(request: ManualTaskRequest) -> ManualTaskResult:
    """Journal a manual task under this flow run's id, and tag the run like any action."""
    context = FlowRunContext.get()
    assert context is not None and context.flow_run is not None
    run = context.flow_run
    tags = run_tags(
        action=ACTION,
        team=request.team,
        service=request.service or "",
        requester=request.requester,
    )
    with get_client(sync_client=True) as client:
        client.update_flow_run(run.id, tags=list(dict.fromkeys([*run.tags, *tags])))
    result = record(request, flow_run_id=str(run.id))
    get_run_logger().info("Journaled %d minutes of %s", request.minutes_spent, request.category)
    return result
