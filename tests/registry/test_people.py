"""People, teams and membership checks, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry import queries
from registry.errors import NotAuthorized, NotFound, PolicyViolation
from registry.models import TeamMembership, TeamRole


def test_upsert_person_creates_then_updates(session: Session) -> None:
    created = queries.upsert_person(session, handle="zoe", name="Zoe", email="zoe@acme.example")
    updated = queries.upsert_person(
        session, handle="zoe", name="Zoe Zhang", email="zz@acme.example"
    )
    assert updated.id == created.id
    assert (updated.name, updated.email, updated.active) == ("Zoe Zhang", "zz@acme.example", True)


def test_handles_are_case_insensitive_like_github_logins(session: Session) -> None:
    queries.upsert_person(session, handle="Zoe", name="Zoe", email="zoe@acme.example")
    person = queries.get_person(session, handle="ZOE")
    assert person is not None and person.handle == "zoe"


def test_deactivation_is_recorded_and_cleared(session: Session) -> None:
    queries.upsert_person(session, handle="zoe", name="Zoe", email="z@acme.example")
    gone = queries.upsert_person(
        session, handle="zoe", name="Zoe", email="z@acme.example", active=False
    )
    assert gone.active is False and gone.deactivated_at is not None
    back = queries.upsert_person(session, handle="zoe", name="Zoe", email="z@acme.example")
    assert back.active is True and back.deactivated_at is None


@pytest.mark.parametrize("handle", ["", "-zoe", "zoe-", "zo--e", "zoe smith", "z" * 40, "zoë"])
def test_handles_must_be_github_logins(session: Session, handle: str) -> None:
    with pytest.raises(PolicyViolation, match="GitHub login"):
        queries.upsert_person(session, handle=handle, name="Zoe", email="z@acme.example")


def test_require_person(seeded: Session) -> None:
    assert queries.require_person(seeded, handle="alice").name == "Alice Archer"
    assert queries.get_person(seeded, handle="zed") is None
    with pytest.raises(NotFound, match="no person 'zed' in the registry"):
        queries.require_person(seeded, handle="zed")


def test_require_active_person(seeded: Session) -> None:
    assert queries.require_active_person(seeded, handle="bob", role="oncall").handle == "bob"
    queries.upsert_person(seeded, handle="bob", name="Bob", email="b@acme.example", active=False)
    with pytest.raises(NotAuthorized, match="oncall 'bob' is not active"):
        queries.require_active_person(seeded, handle="bob", role="oncall")


def test_seeded_teams(seeded: Session) -> None:
    platform = queries.require_team(seeded, slug="platform")
    assert platform.lead is not None and platform.lead.handle == "alice"
    assert platform.cost_center == "cc-100"
    assert queries.team_members(seeded, slug="platform") == ["alice", "bob"]
    assert queries.team_members(seeded, slug="payments") == ["carol", "dave"]


def test_the_lead_is_a_member_with_role_lead(seeded: Session) -> None:
    team = queries.upsert_team(
        seeded, slug="data", name="Data", lead="erin", cost_center="cc-300", members=["dave"]
    )
    roles = dict(
        seeded.execute(
            select(TeamMembership.person_id, TeamMembership.role).where(
                TeamMembership.team_id == team.id
            )
        ).all()
    )
    erin = queries.require_person(seeded, handle="erin")
    dave = queries.require_person(seeded, handle="dave")
    assert roles == {erin.id: TeamRole.LEAD, dave.id: TeamRole.MEMBER}


def test_upsert_team_makes_membership_exactly_what_is_given(seeded: Session) -> None:
    queries.upsert_team(
        seeded,
        slug="platform",
        name="Platform Eng",
        lead="bob",
        cost_center="cc-101",
        members=["erin"],
    )
    team = queries.require_team(seeded, slug="platform")
    assert (team.name, team.cost_center) == ("Platform Eng", "cc-101")
    assert team.lead is not None and team.lead.handle == "bob"
    assert queries.team_members(seeded, slug="platform") == ["bob", "erin"]


def test_upsert_team_is_idempotent(seeded: Session) -> None:
    for _ in range(2):
        queries.upsert_team(
            seeded,
            slug="platform",
            name="Platform",
            lead="alice",
            cost_center="cc-100",
            members=["alice", "bob"],
        )
    assert queries.team_members(seeded, slug="platform") == ["alice", "bob"]


def test_upsert_team_without_a_lead(seeded: Session) -> None:
    team = queries.upsert_team(
        seeded, slug="guild", name="Guild", lead=None, cost_center="cc-9", members=["erin"]
    )
    assert team.lead is None
    assert queries.team_members(seeded, slug="guild") == ["erin"]


def test_upsert_team_refuses_unknown_people_and_bad_slugs(seeded: Session) -> None:
    with pytest.raises(NotFound, match="no person 'zed'"):
        queries.upsert_team(
            seeded, slug="data", name="Data", lead="alice", cost_center="cc", members=["zed"]
        )
    with pytest.raises(PolicyViolation, match="team slug 'Data'"):
        queries.upsert_team(
            seeded, slug="Data", name="Data", lead=None, cost_center="cc", members=[]
        )


def test_require_team_lists_the_known_teams(seeded: Session) -> None:
    assert queries.get_team(seeded, slug="nope") is None
    with pytest.raises(NotFound, match=r"no team 'nope' .*known teams: payments, platform"):
        queries.require_team(seeded, slug="nope")


def test_require_team_on_an_empty_registry(session: Session) -> None:
    with pytest.raises(NotFound, match="none yet"):
        queries.require_team(session, slug="platform")


def test_require_active_member_accepts_a_member(seeded: Session) -> None:
    person = queries.require_active_member(seeded, team="platform", handle="bob", role="owner")
    assert person.handle == "bob"


def test_require_active_member_refuses_a_non_member(seeded: Session) -> None:
    with pytest.raises(NotAuthorized) as caught:
        queries.require_active_member(seeded, team="platform", handle="erin", role="owner")
    assert str(caught.value) == (
        "owner 'erin' is not a member of team 'platform' (members: alice, bob)"
    )


def test_require_active_member_refuses_an_unknown_person(seeded: Session) -> None:
    with pytest.raises(NotFound, match="no person 'zed' in the registry"):
        queries.require_active_member(seeded, team="platform", handle="zed", role="requester")


def test_require_active_member_refuses_an_inactive_member(seeded: Session) -> None:
    queries.upsert_person(seeded, handle="bob", name="Bob", email="b@acme.example", active=False)
    with pytest.raises(NotAuthorized, match="requester 'bob' is not active"):
        queries.require_active_member(seeded, team="platform", handle="bob", role="requester")


def test_require_active_member_refuses_an_unknown_team(seeded: Session) -> None:
    with pytest.raises(NotFound, match="no team 'growth'"):
        queries.require_active_member(seeded, team="growth", handle="bob", role="owner")


def test_active_team_members_leave_out_who_left(seeded: Session) -> None:
    assert queries.active_team_members(seeded, slug="platform") == ["alice", "bob"]
    queries.upsert_person(seeded, handle="alice", name="Alice Archer", email="a@x", active=False)
    assert queries.active_team_members(seeded, slug="platform") == ["bob"]
    assert queries.team_members(seeded, slug="platform") == ["alice", "bob"]
    with pytest.raises(NotFound, match="no team 'nosuch'"):
        queries.active_team_members(seeded, slug="nosuch")
