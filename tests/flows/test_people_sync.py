"""`registry:people:sync` through a Prefect run, against the fake GitHub and the webhook
sink: the registry follows the organization, leavers are reported to their team lead."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from flows.actions.people_sync import PeopleSyncResult, registry_people_sync
from registry import queries
from registry.db import make_engine, session_scope
from registry.models import JournalEntry
from sandbox.fake_github import FakeGitHubControl
from tests.flows.notify_helpers import Sink

pytestmark = pytest.mark.usefixtures("paved_blocks")


@contextmanager
def registry(url: str) -> Iterator[Session]:
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            yield session
    finally:
        engine.dispose()


def test_the_seeded_world_is_in_sync(fake_github: FakeGitHubControl, registry_url: str) -> None:
    result = registry_people_sync()
    assert result == PeopleSyncResult(
        organization="acme",
        joined=[],
        reactivated=[],
        updated=[],
        left=[],
        memberships=[],
        leads=[],
        teams_added=[],
        teams_skipped={},
        told={},
    )
    with registry(registry_url) as session:
        rows = session.scalars(select(JournalEntry)).all()
        assert [(row.action, row.state) for row in rows] == [
            ("registry:people:sync", "Running"),
            ("registry:people:sync", "Completed"),
        ]


def test_joins_moves_and_departures_are_applied_and_the_lead_is_told(
    fake_github: FakeGitHubControl,
    registry_url: str,
    notify_channels: dict[str, str],
    sink: Sink,
) -> None:
    with registry(registry_url) as session:
        queries.get_or_create_service(session, name="orders", team="payments", owner="dave")
    fake_github.join_organization("acme", "frank", name="Frank Fox", email="frank@acme.example")
    fake_github.set_team_member("acme", "platform", "frank")
    fake_github.leave_organization("acme", "dave")

    result = registry_people_sync()

    assert (result.joined, result.left) == (["frank"], ["dave"])
    assert sorted(result.memberships) == ["payments: -dave", "platform: +frank"]
    assert result.told == {"dave": {"carol": "sent"}}
    message = sink.wait_for("carol")["body"]
    assert message["subject"] == "Paved: dave left acme"
    assert "owner of service orders (team payments); suggested: carol" in message["body"]
    with registry(registry_url) as session:
        dave = queries.require_person(session, handle="dave")
        assert dave.active is False  # deactivated, not deleted
        assert dave.notify_channel == notify_channels["dave"]
        frank = queries.require_person(session, handle="frank")
        assert (frank.name, frank.email) == ("Frank Fox", "frank@acme.example")
        assert queries.team_members(session, slug="platform") == ["alice", "bob", "frank"]
        changes = [
            row.parameters.get("change")
            for row in session.scalars(
                select(JournalEntry).where(JournalEntry.action == "registry:people:sync")
            )
        ]
        assert sorted(change for change in changes if change) == [
            "joined",
            "left",
            "membership added",
            "membership removed",
        ]

    # dave is back, and made maintainer of payments: active again, and lead (carol is
    # no maintainer any more); a second run with nothing new changes nothing.
    fake_github.join_organization("acme", "dave")
    fake_github.set_team_member("acme", "payments", "dave", "maintainer")
    fake_github.set_team_member("acme", "payments", "carol", "member")
    again = registry_people_sync()
    assert (again.reactivated, again.leads) == (["dave"], ["payments: carol -> dave"])
    assert registry_people_sync().model_dump(exclude={"organization"}) == {
        "joined": [],
        "reactivated": [],
        "updated": [],
        "left": [],
        "memberships": [],
        "leads": [],
        "teams_added": [],
        "teams_skipped": {},
        "told": {},
    }


def test_github_failing_fails_the_run_and_changes_nothing(
    fake_github: FakeGitHubControl, registry_url: str
) -> None:
    fake_github.leave_organization("acme", "erin")
    fake_github.add_fault("/orgs/acme/teams", method="GET", status=403, times=1)
    state = registry_people_sync(return_state=True)
    assert state.is_failed()
    with registry(registry_url) as session:
        assert queries.require_person(session, handle="erin").active
        ends = [
            row.state
            for row in session.scalars(
                select(JournalEntry).where(JournalEntry.action == "registry:people:sync")
            )
        ]
        assert ends == ["Running", "Failed"]
