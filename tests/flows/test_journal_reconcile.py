"""journal:reconcile against the Prefect test server: runs that could not journal their
own end (a crash before any code ran, a cancellation) get their final row; runs that
journaled themselves are left alone."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.states import Cancelled, Crashed

from flows.actions.github_repo_create import github_repo_create
from flows.journal.reconcile import journal_reconcile
from registry import queries
from registry.db import make_engine, session_scope

pytestmark = pytest.mark.usefixtures("paved_blocks", "fake_github")

TAGS = ["paved", "action:service:create", "team:payments", "service:ledger", "requester:dave"]


@flow(name="reconcile-probe")
def probe() -> None:
    """A stand-in for a run whose worker died: only its Prefect record exists."""


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
