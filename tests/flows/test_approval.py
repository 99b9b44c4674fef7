"""request_approval: the change approver proves who they are with a one-time code.

A probe flow asks for approval inside `journaled`, in a thread; the test reads the code
from the webhook sink (the approver's channel) and resumes the paused run the way the
Prefect UI does (`resume_flow_run` with run input).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.flow_runs import resume_flow_run
from prefect.logging import get_run_logger
from pydantic import Field

from flows.engine.approval import Approval, ApprovalRoute, request_approval, route_approval
from flows.engine.context import ServiceContext, load_service_context
from flows.engine.request import PavedRequest
from flows.engine.runtime import journaled
from registry import queries
from registry.db import make_engine, session_scope
from registry.errors import NotAuthorized
from registry.queries import set_notify_channel
from tasks.notify import save_webhook_channel
from tests.flows.notify_helpers import (
    CODE,
    RUN_ID,
    Sink,
    approve,
    in_thread,
    wait_until_paused,
)

pytestmark = pytest.mark.usefixtures("paved_blocks", "notify_channels")

ACTION = "test:approval"


class ProbeRequest(PavedRequest):
    """A day-2 request on an existing service."""

    service: str = Field(description="Service.")
    timeout_seconds: int = Field(default=30, description="Approval timeout.")


@flow(name="approval-probe")
def approval_probe(request: ProbeRequest) -> Approval:
    get_run_logger().info("probe for %s", request.service)
    with journaled(action=ACTION, request=request, team="payments", service=request.service):
        context = load_service_context(service=request.service, requester=request.requester)
        return request_approval(
            context=context,
            action=ACTION,
            summary=f"a test change to {request.service}",
            timeout_seconds=request.timeout_seconds,
            poll_interval_seconds=0.1,
        )


@pytest.fixture(autouse=True)
def orders(registry_url: str) -> None:
    """Service `orders` of payments: owner, change approver and on-call carol."""
    engine = make_engine(registry_url)
    with session_scope(engine) as session:
        queries.get_or_create_service(session, name="orders", team="payments", owner="carol")
    engine.dispose()


def start(timeout_seconds: int = 30, requester: str = "dave") -> Any:
    request = {"service": "orders", "requester": requester, "timeout_seconds": timeout_seconds}
    return in_thread(lambda: approval_probe(request=request, return_state=True))


def journal(registry_url: str, flow_run_id: str) -> list[Any]:
    engine = make_engine(registry_url)
    with session_scope(engine) as session:
        entries = queries.journal_for_run(session, flow_run_id=flow_run_id)
        session.expunge_all()
    engine.dispose()
    return entries


def run_logs(flow_run_id: str) -> str:
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()  # logs reach the API in batches
    with get_client(sync_client=True) as client:
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
    return "\n".join(log.message for log in logs)


def test_the_change_approver_with_the_right_code_approves(sink: Sink, registry_url: str) -> None:
    thread, out = start()
    run_id = approve(sink, to="carol")
    thread.join(30)

    state = out[0]
    assert state.is_completed(), state.message
    approval = state.result()
    assert approval.approver == "carol" and approval.action == ACTION
    message = sink.messages("carol")[0]["body"]
    assert "valid for this run only" in message["body"]
    assert message["subject"] == f"Paved: approval needed for {ACTION} on orders"
    code = message["body"].split("one-time code: ")[1].split()[0]
    entries = journal(registry_url, run_id)
    assert [e.state for e in entries] == ["Running", "Paused", "Approved", "Completed"]
    assert entries[1].parameters["approval"]["approver"] == "carol"
    assert entries[2].parameters["approval"]["approved_by"] == "carol"
    # The code is in no journal row, parameter or log of the run.
    assert all(code not in repr((e.parameters, e.error)) for e in entries)
    assert code not in run_logs(run_id)
    assert sink.messages("dave") == []  # nobody is told of a failure: there was none


@pytest.mark.parametrize(
    ("approver", "code", "reason"),
    [
        ("carol", "0000000000", "wrong approval code given by 'carol'"),
        ("dave", None, "'dave' may not approve: this approval was sent to carol"),
    ],
)
def test_a_wrong_code_or_handle_is_rejected_and_journaled(
    sink: Sink, registry_url: str, approver: str, code: str | None, reason: str
) -> None:
    thread, out = start()
    run_id = approve(sink, to="carol", approver=approver, code=code)
    thread.join(30)

    state = out[0]
    assert state.is_failed()
    with pytest.raises(Exception, match="rejected") as failure:
        state.result()
    assert type(failure.value).__name__ == "NotAuthorized"
    assert reason in str(failure.value)
    entries = journal(registry_url, run_id)
    assert [e.state for e in entries] == ["Running", "Paused", "Rejected", "Failed"]
    assert (entries[2].error or "").startswith(reason)
    # The failure notice reaches the requester (dave) and the on-call contact (carol).
    notice = sink.wait_for("dave")["body"]
    assert notice["subject"].startswith(f"Paved: {ACTION} failed")
    assert "NotAuthorized" in notice["body"]


def test_no_answer_in_time_is_a_rejection(sink: Sink, registry_url: str) -> None:
    thread, out = start(timeout_seconds=1)
    thread.join(30)

    state = out[0]
    # Prefect's server fails a run whose pause expired ("... never resumed"); the
    # journal, the log and the failure notice say why.
    assert state.is_failed()
    run_id = str(state.state_details.flow_run_id)
    entries = journal(registry_url, run_id)
    assert [e.state for e in entries] == ["Running", "Paused", "Rejected", "Failed"]
    assert entries[2].error == "no approval from carol within 1 s"
    assert "NotAuthorized: test:approval rejected: no approval" in (entries[3].error or "")
    assert "no approval from carol within 1 s" in run_logs(run_id)
    assert "no approval from carol" in sink.wait_for("dave")["body"]["body"]


# --- routing: never to the requester ------------------------------------------------------


def context_of(session: Any, service: str) -> ServiceContext:
    row = queries.require_service(session, name=service)
    return ServiceContext(
        service=row.name,
        team=row.team.slug,
        owner=row.owner.handle,
        cost_center=row.team.cost_center,
        change_approver=row.change_approver.handle if row.change_approver else None,
        oncall=None,
        tags={},
    )


def route(
    registry_url: str, requester: str, *, service: str = "orders", admins: str = "platform"
) -> ApprovalRoute:
    engine = make_engine(registry_url)
    try:
        with session_scope(engine) as session:
            return route_approval(
                session,
                context=context_of(session, service),
                requester=requester,
                admin_team=admins,
            )
    finally:
        engine.dispose()


def test_the_change_approver_asking_goes_to_the_lead_then_to_an_admin(registry_url: str) -> None:
    engine = make_engine(registry_url)
    with session_scope(engine) as session:
        # `refunds`: dave approves its changes; carol leads payments.
        queries.get_or_create_service(
            session, name="refunds", team="payments", owner="dave", change_approver="dave"
        )
    engine.dispose()

    assert route(registry_url, "erin", service="refunds").approver == "dave"
    to_lead = route(registry_url, "dave", service="refunds")
    assert (to_lead.approver, to_lead.role) == ("carol", "lead of team payments")
    assert to_lead.note == "dave, the change approver, asked for it"
    # carol approves orders and leads payments: another admin, alphabetically first.
    to_admin = route(registry_url, "carol")
    assert (to_admin.approver, to_admin.role) == ("alice", "admin (team platform)")
    assert "carol, the change approver and lead of team payments, asked for it" in (
        to_admin.note or ""
    )
    # An admin asking never gets their own request: the next admin does.
    engine = make_engine(registry_url)
    with session_scope(engine) as session:
        queries.get_or_create_service(session, name="ledger", team="platform", owner="alice")
    engine.dispose()
    assert route(registry_url, "alice", service="ledger").approver == "bob"


def test_inactive_people_are_passed_over_and_nobody_left_is_refused(registry_url: str) -> None:
    engine = make_engine(registry_url)
    with session_scope(engine) as session:
        queries.get_or_create_service(
            session, name="refunds", team="payments", owner="dave", change_approver="dave"
        )
        queries.upsert_person(session, handle="dave", name="Dave Diaz", email="d@x", active=False)
    engine.dispose()

    gone = route(registry_url, "erin", service="refunds")
    assert gone.approver == "carol" and gone.note == "dave, the change approver, is not active"
    with pytest.raises(NotAuthorized, match="nobody may approve carol's request on orders"):
        route(registry_url, "carol", admins="payments")  # dave, the other admin, left


def test_a_request_by_the_approver_and_lead_is_sent_to_an_admin(
    sink: Sink, registry_url: str, prefect_api: None
) -> None:
    alice = save_webhook_channel(handle="alice", url=f"{sink.url}/hooks/alice")
    engine = make_engine(registry_url)
    with session_scope(engine) as session:
        set_notify_channel(session, handle="alice", channel=alice)
    engine.dispose()

    thread, out = start(requester="carol")
    message = sink.wait_for("alice")["body"]
    run_id = RUN_ID.search(message["body"])
    assert run_id is not None
    wait_until_paused(run_id.group(1))
    # The gateway asks the registry who may resume the paused run.
    engine = make_engine(registry_url)
    with session_scope(engine) as session:
        assert queries.pending_approval(session, flow_run_id=run_id.group(1)) == "alice"
    engine.dispose()
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(UUID(run_id.group(1)))
    assert run.state is not None and run.state.is_paused()
    # carol, the requester, answering her own request with the right code is refused.
    code = CODE.search(message["body"])
    assert code is not None
    resume_flow_run(UUID(run_id.group(1)), run_input={"approver": "carol", "code": code.group(1)})
    thread.join(30)

    state = out[0]
    assert state.is_failed()
    assert "'carol' may not approve: this approval was sent to alice" in str(state.message)
    assert "Paved asks you, alice, as admin (team platform)" in message["body"]
    assert "carol, the change approver and lead of team payments, asked for it" in message["body"]
    assert sink.messages("carol")[0]["body"]["subject"].startswith(f"Paved: {ACTION} failed")
    entries = journal(registry_url, run_id.group(1))
    assert entries[1].parameters["approval"]["approver"] == "alice"
    assert queries_pending(registry_url, run_id.group(1)) is None


def queries_pending(registry_url: str, run_id: str) -> str | None:
    engine = make_engine(registry_url)
    with session_scope(engine) as session:
        found = queries.pending_approval(session, flow_run_id=run_id)
    engine.dispose()
    return found
