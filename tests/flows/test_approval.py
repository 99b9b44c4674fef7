"""request_approval: the change approver proves who they are with a one-time code.

A probe flow asks for approval inside `journaled`, in a thread; the test reads the code
from the webhook sink (the approver's channel) and resumes the paused run the way the
Prefect UI does (`resume_flow_run` with run input).
"""

from __future__ import annotations

from typing import Any

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.logging import get_run_logger
from pydantic import Field

from flows.action_request import PavedRequest
from flows.approval import Approval, request_approval
from flows.registry_steps import load_service_context
from flows.runtime import journaled
from registry import queries
from registry.db import make_engine, session_scope
from tests.flows.notify_helpers import Sink, approve, in_thread

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


def start(timeout_seconds: int = 30) -> Any:
    request = {"service": "orders", "requester": "dave", "timeout_seconds": timeout_seconds}
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
    assert entries[2].parameters["approval"]["approved_by"] == "carol"
    # The code is in no journal row, parameter or log of the run.
    assert all(code not in repr((e.parameters, e.error)) for e in entries)
    assert code not in run_logs(run_id)
    assert sink.messages("dave") == []  # nobody is told of a failure: there was none


@pytest.mark.parametrize(
    ("approver", "code", "reason"),
    [
        ("carol", "0000000000", "wrong approval code given by 'carol'"),
        ("dave", None, "'dave' is not the change approver of orders (carol)"),
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
    assert entries[2].error == reason
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
