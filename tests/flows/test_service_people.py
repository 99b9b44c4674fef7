"""`service:create` and the people it names: who may approve, be paged, watch cost, and
that a request never moves them on an existing service (that is service:transfer).

Every refusal here comes before any side effect: the fake GitHub's request journal shows
no write, and the registry holds no new service.
"""

from __future__ import annotations

from typing import Any

import pytest
from prefect.client.schemas.objects import StateType

from flows.actions.service_create import service_create
from flows.actions.service_transfer import service_transfer
from registry import queries
from registry.db import make_engine, session_scope
from sandbox.fake_github.control import FakeGitHubControl
from tests.flows.notify_helpers import Sink, approve, in_thread

pytestmark = pytest.mark.usefixtures("paved_blocks")

ORDERS: dict[str, Any] = {
    "name": "orders",
    "team": "payments",
    "owner": "carol",
    "requester": "dave",
    "topics": [],
}


def create(**changes: Any) -> Any:
    return service_create(request={**ORDERS, **changes}, return_state=True)


def registry(url: str) -> Any:
    return session_scope(make_engine(url))


def refused(state: Any, *, says: str, kind: str) -> str:
    assert state.type == StateType.FAILED
    with pytest.raises(Exception, match=says) as failure:
        state.result()
    assert type(failure.value).__name__ == kind
    return str(failure.value)


@pytest.mark.parametrize(
    ("change", "says", "kind"),
    [
        # erin is in no team; bob leads nothing in payments: neither approves its changes.
        (
            {"change_approver": "erin"},
            "change approver 'erin' is not a member of team 'payments'",
            "NotAuthorized",
        ),
        (
            {"change_approver": "bob"},
            "change approver 'bob' is not a member of team 'payments'",
            "NotAuthorized",
        ),
        ({"oncall": "zed"}, "no person 'zed' in the registry .given as oncall", "NotFound"),
        ({"cost_watcher": "nobody"}, "given as cost watcher", "NotFound"),
    ],
)
def test_people_who_may_not_hold_a_role_are_refused_before_any_call(
    fake_github: FakeGitHubControl,
    registry_url: str,
    change: dict[str, str],
    says: str,
    kind: str,
) -> None:
    refused(create(**change), says=says, kind=kind)

    assert fake_github.requests(writes_only=True) == []
    with registry(registry_url) as session:
        assert queries.get_service(session, name="orders") is None


def test_a_deactivated_oncall_is_refused(fake_github: FakeGitHubControl, registry_url: str) -> None:
    with registry(registry_url) as session:
        queries.upsert_person(session, handle="erin", name="Erin Evans", email="e@x", active=False)

    refused(create(oncall="erin"), says="oncall 'erin' is not active", kind="NotAuthorized")
    assert fake_github.requests(writes_only=True) == []


def test_an_existing_service_keeps_its_people_unless_transferred(
    fake_github: FakeGitHubControl, registry_url: str
) -> None:
    with registry(registry_url) as session:
        queries.get_or_create_service(
            session, name="orders", team="payments", owner="carol", change_approver="dave"
        )

    message = refused(
        create(change_approver="carol", cost_watcher="dave"),
        says="this request would change change approver dave -> carol, cost watcher carol -> dave",
        kind="Conflict",
    )
    assert "ask for service:transfer" in message
    refused(create(owner="dave"), says="would change owner carol -> dave", kind="Conflict")
    assert fake_github.requests(writes_only=True) == []

    # Empty fields keep what the registry holds: the same request converges.
    same = create(dry_run=True)
    assert same.is_completed(), same.message
    result = same.result()
    assert (result.change_approver, result.oncall, result.cost_watcher) == (
        "dave",
        "carol",
        "carol",
    )
    with registry(registry_url) as session:
        owner = queries.ownership_of(session, thing="orders")
        assert owner is not None and owner.change_approver == "dave"


def test_a_failed_first_run_recorded_the_people_it_named(
    fake_github: FakeGitHubControl, registry_url: str
) -> None:
    fake_github.add_fault(
        method="POST", path=r"/repos/acme/service-template/generate", status=403, times=5
    )

    first = create(change_approver="dave", oncall="dave")

    assert first.type == StateType.FAILED
    with registry(registry_url) as session:
        owner = queries.ownership_of(session, thing="orders")
        assert owner is not None
        assert (owner.change_approver, owner.oncall) == ("dave", "dave")
    # Re-running the same request is not a change of people: it passes validation.
    again = create(change_approver="dave", oncall="dave", dry_run=True)
    assert again.is_completed(), again.message


# --- service:transfer: the way people change ------------------------------------------------


def transfer(**changes: Any) -> Any:
    request = {"service": "orders", "requester": "dave", "reason": "dave runs orders now"}
    return service_transfer(request={**request, **changes}, return_state=True)


@pytest.mark.usefixtures("notify_channels")
def test_transfer_of_the_change_approver_waits_for_the_current_one(
    fake_github: FakeGitHubControl,
    registry_url: str,
    sink: Sink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PAVED_APPROVAL_POLL_SECONDS", "0.1")
    with registry(registry_url) as session:
        queries.get_or_create_service(session, name="orders", team="payments", owner="carol")

    refused(
        transfer(new_change_approver="erin"),
        says="change approver 'erin' is not a member of team 'payments'",
        kind="NotAuthorized",
    )
    # Refused before anyone is asked: carol hears of the failure (on-call), not to approve.
    assert all("approval" not in m["body"]["subject"] for m in sink.messages("carol"))
    sink.clear()

    thread, out = in_thread(lambda: transfer(new_change_approver="dave", new_oncall="dave"))
    approve(sink, to="carol")
    thread.join(60)

    state = out[0]
    assert state.is_completed(), state.message
    result = state.result()
    assert (result.approver, result.change_approver, result.oncall) == ("carol", "dave", "dave")
    assert "change approver carol -> dave" in sink.messages("carol")[0]["body"]["body"]
    with registry(registry_url) as session:
        owner = queries.ownership_of(session, thing="orders")
        assert owner is not None
        assert (owner.owner, owner.change_approver, owner.oncall) == ("carol", "dave", "dave")
