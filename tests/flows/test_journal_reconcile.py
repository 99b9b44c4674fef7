"""journal:reconcile against the Prefect test server: runs that could not journal their
own end (a crash before any code ran, a cancellation) get their final row; runs that
journaled themselves are left alone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from prefect import flow, task
from prefect.client.orchestration import get_client
from prefect.states import Cancelled, Crashed, Running

from flows.actions.github_repo_create import github_repo_create
from flows.journal.reconcile import journal_reconcile
from registry import queries
from registry.db import make_engine, session_scope
from registry.models import ResourceStatus, ServiceStatus
from tests.flows.notify_helpers import Sink

pytestmark = pytest.mark.usefixtures("paved_blocks", "fake_github")

TAGS = ["paved", "action:service:create", "team:payments", "service:ledger", "requester:dave"]


@flow(name="reconcile-probe")
def probe() -> None:
    """A stand-in for a run whose worker died: only its Prefect record exists."""


@task(name="reconcile-probe-step")
def step_task() -> None:
    """The task run a child flow run hangs from."""


def finished_run(state: Any) -> str:
    with get_client(sync_client=True) as client:
        run = client.create_flow_run(probe, tags=TAGS)
        client.set_flow_run_state(run.id, state, force=True)
        return str(run.id)


def test_crashed_and_cancelled_runs_are_journaled_once(registry_url: str) -> None:
    crashed = finished_run(Crashed(message="worker process exited with code -9"))
    with get_client(sync_client=True) as client:  # housekeeping runs are not journaled
        housekeeping = client.create_flow_run(
            probe, tags=["paved", "action:registry:events:publish"]
        )
        client.set_flow_run_state(housekeeping.id, Crashed(message="broker down"), force=True)
    cancelled = finished_run(Cancelled(message="cancelled from the UI"))
    completed = github_repo_create(
        request={"name": "hello", "team": "platform", "owner": "alice", "requester": "bob"},
        return_state=True,
    )
    assert completed.is_completed()

    first = journal_reconcile(since_hours=1)
    again = journal_reconcile(since_hours=1)

    # The session's Prefect server also holds other tests' runs (their journals live in
    # other registries, so they are appended here too): look at this test's own runs.
    with get_client(sync_client=True) as client:
        names = {client.read_flow_run(UUID(run)).name: run for run in (crashed, cancelled)}
    crashed_name, cancelled_name = names
    assert {f"{crashed_name}: Crashed", f"{cancelled_name}: Cancelled"} <= set(first.appended)
    assert not any(entry.startswith(f"{housekeeping.name}:") for entry in first.appended)
    assert again.appended == []
    with session_scope(make_engine(registry_url)) as session:
        assert queries.journal_for_run(session, flow_run_id=housekeeping.id) == []
        [crash] = queries.journal_for_run(session, flow_run_id=crashed)
        assert (crash.state, crash.action, crash.team, crash.service, crash.requester) == (
            "Crashed",
            "service:create",
            "payments",
            "ledger",
            "dave",
        )
        assert crash.error == "worker process exited with code -9"
        [cancel] = queries.journal_for_run(session, flow_run_id=cancelled)
        assert cancel.state == "Cancelled"
        own = queries.journal_for_run(session, flow_run_id=str(completed.state_details.flow_run_id))
        assert [entry.state for entry in own] == ["Running", "Completed"]


def test_a_crashed_run_is_settled_its_children_crash_and_people_are_told_once(
    registry_url: str, notify_channels: dict[str, str], sink: Sink
) -> None:
    """The half-built service of issue 11: killed mid-way, its run Crashed by the heartbeat
    automation. The registry must stop saying anything is being made, the run's child must
    not stay Running, and the requester and on-call contact hear of it once."""
    engine = make_engine(registry_url)
    with session_scope(engine) as session:
        queries.get_or_create_service(session, name="crashme", team="payments", owner="carol")
        for kind, status in (("s3_bucket", "active"), ("sqs_queue", "provisioning")):
            queries.upsert_resource(
                session,
                service="crashme",
                provider="aws",
                kind=kind,
                name=f"crashme-{kind}",
                status=status,
            )
    tags = ["paved", "action:service:create", "team:payments", "service:crashme", "requester:dave"]
    with get_client(sync_client=True) as client:
        parent = client.create_flow_run(probe, tags=tags)
        step = client.create_task_run(step_task, flow_run_id=parent.id, dynamic_key="0")  # type: ignore[arg-type]
        child = client.create_flow_run(probe, parent_task_run_id=step.id)
        client.set_flow_run_state(child.id, Running(), force=True)
        client.set_flow_run_state(
            parent.id, Crashed(message="No heartbeat for 90 s: the run's process died"), force=True
        )

    first = journal_reconcile(since_hours=1)
    again = journal_reconcile(since_hours=1)

    assert first.children_crashed == [child.name]
    assert again.children_crashed == [] and f"{parent.name}: Crashed" not in again.appended
    with get_client(sync_client=True) as client:
        child_state = client.read_flow_run(child.id).state
    assert child_state is not None and child_state.is_crashed()
    assert "parent run crashed" in (child_state.message or "")
    with session_scope(engine) as session:
        service = queries.require_service(session, name="crashme")
        statuses = {
            r.kind: (r.status, r.error) for r in queries.find_resources(session, service="crashme")
        }
        [crash] = queries.journal_for_run(session, flow_run_id=parent.id)
    engine.dispose()
    assert service.status == ServiceStatus.FAILED
    assert statuses["s3_bucket"] == (ResourceStatus.ACTIVE, None)  # it exists: still active
    queue_status, queue_error = statuses["sqs_queue"]
    assert queue_status == ResourceStatus.FAILED
    assert (
        queue_error == f"run {parent.name} crashed: No heartbeat for 90 s: the run's process died"
    )
    assert crash.state == "Crashed"
    # The session's Prefect server holds other tests' crashed runs too: this run's notices.
    subject = f"Paved: service:create crashed ({parent.name})"
    sink.wait_for("carol")
    notices = [m for m in sink.messages() if m["body"]["subject"] == subject]
    # Once each, though reconcile ran twice.
    assert sorted(m["recipient"] for m in notices) == ["carol", "dave"]
    assert "Action service:create crashed: its process stopped." in notices[0]["body"]["body"]
    assert notices[0]["body"] == notices[1]["body"]


def test_a_crash_leaves_statuses_to_a_later_run_of_the_service(registry_url: str) -> None:
    engine = make_engine(registry_url)
    with session_scope(engine) as session:
        queries.get_or_create_service(session, name="rerun", team="payments", owner="carol")
        queries.upsert_resource(
            session,
            service="rerun",
            provider="aws",
            kind="sqs_queue",
            name="rerun-q",
            status="provisioning",
        )
    tags = ["paved", "action:service:create", "team:payments", "service:rerun", "requester:dave"]
    with get_client(sync_client=True) as client:
        crashed = client.create_flow_run(probe, tags=tags)
        client.set_flow_run_state(crashed.id, Running(), force=True)
        client.set_flow_run_state(crashed.id, Crashed(message="killed"), force=True)
    with session_scope(engine) as session:  # the re-run has started and is making the queue
        queries.append_journal(
            session,
            flow_run_id="the-rerun",
            action="service:create",
            requester="dave",
            team="payments",
            service="rerun",
            parameters={},
            state="Running",
            started_at=datetime.now(UTC),
        )

    journal_reconcile(since_hours=1)

    with session_scope(engine) as session:
        [queue] = queries.find_resources(session, service="rerun")
        assert queue.status == ResourceStatus.PROVISIONING
        assert queries.require_service(session, name="rerun").status == ServiceStatus.PROVISIONING
    engine.dispose()


def test_a_run_that_died_before_its_code_tagged_it_is_known_by_its_request(
    registry_url: str, notify_channels: dict[str, str], sink: Sink
) -> None:
    """Killed right after it started (make chaos did it): only the deployment's tags and
    the gateway's requester tag are on the run; its request still names the service."""
    tags = ["paved", "action:service:create", "requester:dave"]
    with get_client(sync_client=True) as client:
        run = client.create_flow_run(
            probe,
            tags=tags,
            parameters={"request": {"name": "early", "team": "payments", "requester": "dave"}},
        )
        client.set_flow_run_state(run.id, Crashed(message="No heartbeat for 90 s"), force=True)

    journal_reconcile(since_hours=1)

    engine = make_engine(registry_url)
    with session_scope(engine) as session:
        [end] = queries.journal_for_run(session, flow_run_id=run.id)
        assert (end.state, end.service, end.team, end.requester) == (
            "Crashed",
            "early",
            "payments",
            "dave",
        )
    engine.dispose()
    subject = f"Paved: service:create crashed ({run.name})"
    sink.wait_for("dave")
    assert [m["recipient"] for m in sink.messages() if m["body"]["subject"] == subject] == ["dave"]
