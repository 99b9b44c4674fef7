"""A hostile user against the running gateway: every attempt the Trust issue names is
refused with the right status and a message that says why, and journaled where it must be.

    attempt                                          who        answer
    no credential (API / UI / Prefect's own port)    anyone     401 / sign-in page / 401
    a token GitHub does not know                     anyone     401
    a GitHub account that is no person of Paved      paved-bot  401
    a person deactivated in the registry             bob        401
    a request as someone else                        dave       403
    reading block secrets                            dave/alice 403
    editing a block (carol's notification channel)   dave       403
    housekeeping (registry:people:sync)              dave       403
    resuming the approval of one's own request       dave       403, journaled
    resuming an approval sent to someone else        erin       403, journaled
    approving under another name                     carol      403, journaled
    approving one's own request as change approver   carol      goes to alice instead
    cancelling someone else's run                    dave       403

Runs against the e2e stack (tests/e2e/conftest.py) with a service of its own, `ledger`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import STACK_GROUP, Stack

pytestmark = [pytest.mark.e2e, STACK_GROUP]

CODE = re.compile(r"one-time code: ([0-9a-f]+)")
RUN_ID = re.compile(r"Run: \S+ \(([0-9a-f-]{36})\)")


@pytest.fixture(scope="module")
def ledger(stack: Stack) -> Iterator[str]:
    """Service `ledger` of team payments, made by dave: carol (the lead) approves changes."""
    made = stack.paved(
        "run", "service:create", "--param", "name=ledger", "--param", "team=payments",
        "--param", "owner=dave", "--wait", "--json", as_="dave",
    )  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    yield "ledger"


def approvals_to(stack: Stack, handle: str) -> list[str]:
    listed = stack.paved("notifications", "--to", handle, "--json", timeout=30)
    return [m["body"] for m in json.loads(listed.stdout) if CODE.search(m["body"])]


def paused_grant(stack: Stack, requester: str, *, approver: str) -> tuple[str, str]:
    """`requester` asks for push on ledger's repository for themself; returns the run id and
    the code once the run is paused and the code has reached `approver`."""
    seen = len(approvals_to(stack, approver))
    asked = stack.paved(
        "run", "access:grant", "--param", "service=ledger", "--param", f"person={requester}",
        "--param", "kind=github-repository", "--param", "permission=push",
        "--param", f"reason={requester} fixes the ledger's CI", "--json", as_=requester,
    )  # fmt: skip
    assert asked.returncode == 0, asked.stdout + asked.stderr
    run_id = json.loads(asked.stdout)["flow_run_id"]
    deadline = time.monotonic() + 120
    while True:
        bodies = [b for b in approvals_to(stack, approver)[seen:] if run_id in b]
        with stack.api(requester) as api:
            state = api.get(f"/flow_runs/{run_id}").json()["state"]["type"]
        if bodies and state == "PAUSED":
            code = CODE.search(bodies[-1])
            assert code is not None
            return run_id, code.group(1)
        assert time.monotonic() < deadline, (
            f"{run_id} is {state}; approvals to {approver}: {bodies}"
        )
        time.sleep(1)


def resume(stack: Stack, handle: str, run_id: str, **run_input: str) -> httpx.Response:
    with stack.api(handle) as api:
        return api.post(f"/flow_runs/{run_id}/resume", json={"run_input": run_input})


def final_state(stack: Stack, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    with stack.api("alice") as api:
        while (run := api.get(f"/flow_runs/{run_id}").json())["state"]["type"] not in {
            "COMPLETED", "FAILED", "CANCELLED", "CRASHED",
        }:  # fmt: skip
            assert time.monotonic() < deadline, run["state"]
            time.sleep(1)
    return dict(run["state"])


def journal_of(stack: Stack, run_id: str) -> dict[str, Any]:
    listed = stack.paved("journal", "list", "--service", "ledger", "--json")
    return dict(next(e for e in json.loads(listed.stdout) if e["flow_run_id"] == run_id))


def test_no_credential_an_unknown_token_or_no_person_is_401(stack: Stack) -> None:
    with stack.api(None) as anonymous:
        answer = anonymous.post("/flow_runs/filter", json={})
    assert answer.status_code == 401
    assert "You are not signed in" in answer.json()["detail"]
    assert f"{stack.gateway_url}/auth/login" in answer.json()["detail"]

    page = httpx.get(f"{stack.gateway_url}/runs", headers={"Accept": "text/html"})
    assert page.status_code == 303 and page.headers["location"] == "/auth/login?next=/runs"

    prefect = httpx.post(f"{stack.components['prefect']['url']}/flow_runs/filter", json={})
    assert prefect.status_code == 401

    unknown = httpx.get(
        f"{stack.gateway_url}/_paved/whoami", headers={"Authorization": "Bearer gho_nobody"}
    )
    assert unknown.status_code == 401
    assert "GitHub does not accept this token" in unknown.json()["detail"]

    # A real GitHub account (the organization's bot) that is no person of Paved.
    bot = httpx.get(
        f"{stack.gateway_url}/_paved/whoami",
        headers={"Authorization": "Bearer paved-local-token"},
    )
    assert bot.status_code == 401
    assert "is not a person in Paved's registry" in bot.json()["detail"]


def test_a_request_as_someone_else_is_refused(stack: Stack) -> None:
    as_carol = stack.paved(
        "run", "github:repo:create", "--param", "name=spoof", "--param", "team=payments",
        "--param", "owner=carol", "--param", "requester=carol", as_="dave",
    )  # fmt: skip
    assert as_carol.returncode == 1
    assert "you are dave; a request as carol is refused" in as_carol.stderr


def test_block_secrets_go_to_nobody_and_only_admins_edit_blocks(stack: Stack) -> None:
    for handle in ("dave", "alice"):
        with stack.api(handle) as api:
            filtered = api.post("/block_documents/filter", json={"include_secrets": True})
            assert filtered.status_code == 403, handle
            assert "Secret values of blocks go to nobody" in filtered.json()["detail"]
            documents = api.post("/block_documents/filter", json={}).json()
            one = documents[0]["id"]
            direct = api.get(f"/block_documents/{one}", params={"include_secrets": "true"})
            assert direct.status_code == 403, handle
    carol = next(d for d in documents if d["name"] == "notify-carol")
    with stack.api("dave") as api:
        tampered = api.patch(
            f"/block_documents/{carol['id']}",
            json={"data": {"url": "http://127.0.0.1:9/steal"}, "merge_existing_data": True},
        )
        assert tampered.status_code == 403
        assert "only admins (members of team platform)" in tampered.json()["detail"]
        deleted = api.delete(f"/block_documents/{carol['id']}")
        assert deleted.status_code == 403


def test_housekeeping_is_for_admins(stack: Stack) -> None:
    sync = stack.paved("run", "registry:people:sync", as_="dave")
    assert sync.returncode == 1
    assert "registry:people:sync is housekeeping, which only admins" in sync.stderr


def test_only_the_person_the_approval_went_to_may_resume_it(stack: Stack, ledger: str) -> None:
    run_id, code = paused_grant(stack, "dave", approver="carol")

    own = resume(stack, "dave", run_id, code=code)
    assert own.status_code == 403
    assert own.json()["detail"] == (
        "you are dave; only carol, to whom the approval of this run was sent, may resume it"
    )
    stranger = resume(stack, "erin", run_id, code=code)
    assert stranger.status_code == 403 and "only carol" in stranger.json()["detail"]
    posing = resume(stack, "carol", run_id, approver="dave", code=code)
    assert posing.status_code == 403
    assert posing.json()["detail"] == "you are carol; an approval as dave is refused"
    approved = resume(stack, "carol", run_id, code=code)
    assert approved.status_code in (200, 201) and approved.json()["status"] == "ACCEPT"
    assert final_state(stack, run_id)["type"] == "COMPLETED"
    entry = journal_of(stack, run_id)
    assert entry["approved_by"] == "carol"
    assert entry["refused"] == ["dave", "erin", "carol"]


def test_an_approval_never_goes_to_its_requester(stack: Stack, ledger: str) -> None:
    # carol is ledger's change approver and payments' lead: her own request goes to an admin.
    run_id, code = paused_grant(stack, "carol", approver="alice")

    herself = resume(stack, "carol", run_id, code=code)
    assert herself.status_code == 403
    assert "only alice" in herself.json()["detail"]

    with stack.api("dave") as api:
        cancel = api.post(
            f"/flow_runs/{run_id}/set_state",
            json={"state": {"type": "CANCELLING", "name": "Cancelling"}},
        )
        assert cancel.status_code == 403
        assert "only its requester (carol) or an admin" in cancel.json()["detail"]
        delete = api.delete(f"/flow_runs/{run_id}")
        assert delete.status_code == 403
    with stack.api("carol") as api:
        mine = api.post(
            f"/flow_runs/{run_id}/set_state",
            json={"state": {"type": "CANCELLING", "name": "Cancelling"}},
        )
    assert mine.status_code in (200, 201) and mine.json()["status"] == "ACCEPT", mine.text
    assert final_state(stack, run_id)["type"] == "CANCELLED"


def test_a_deactivated_person_is_401(stack: Stack) -> None:
    with stack.api("bob") as api:
        assert api.post("/flow_runs/filter", json={}).status_code == 200
    deactivated = stack.paved("people", "deactivate", "bob")
    assert deactivated.returncode == 0, deactivated.stdout + deactivated.stderr
    with stack.api("bob") as api:
        answer = api.post("/flow_runs/filter", json={})
    assert answer.status_code == 401
    assert "bob, who is not an active person in Paved's registry" in answer.json()["detail"]
