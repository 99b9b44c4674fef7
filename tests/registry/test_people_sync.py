"""`apply_org_snapshot`: the registry's people and teams follow the GitHub organization,
on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry import queries
from registry.errors import NotAuthorized
from registry.models import JournalEntry, Person, Team, TeamMembership
from registry.people import (
    LeadChange,
    MembershipChange,
    OrgPerson,
    OrgSnapshot,
    OrgTeam,
    apply_org_snapshot,
    set_explicit_lead,
)

RUN = "sync-run-1"
PEOPLE = {
    "alice": ("Alice Archer", "alice@acme.example"),
    "bob": ("Bob Baker", "bob@acme.example"),
    "carol": ("Carol Chen", "carol@acme.example"),
    "dave": ("Dave Diaz", "dave@acme.example"),
    "erin": ("Erin Evans", "erin@acme.example"),
}


def snapshot(
    people: dict[str, tuple[str | None, str | None]] | None = None,
    teams: dict[str, tuple[set[str], set[str]]] | None = None,
) -> OrgSnapshot:
    """The sandbox organization by default; `teams` maps slug to (members, maintainers)."""
    people = dict(PEOPLE) if people is None else people
    teams = (
        {"platform": ({"alice", "bob"}, {"alice"}), "payments": ({"carol", "dave"}, {"carol"})}
        if teams is None
        else teams
    )
    return OrgSnapshot(
        people=tuple(OrgPerson(handle, name, email) for handle, (name, email) in people.items()),
        teams=tuple(
            OrgTeam(slug, slug.title(), frozenset(members | maintainers), frozenset(maintainers))
            for slug, (members, maintainers) in teams.items()
        ),
    )


def sync(session: Session, org: OrgSnapshot, run: str = RUN):  # type: ignore[no-untyped-def]
    return apply_org_snapshot(session, snapshot=org, requester="paved", flow_run_id=run)


def members(session: Session, slug: str) -> dict[str, str]:
    rows = session.execute(
        select(Person.handle, TeamMembership.role)
        .join(TeamMembership, TeamMembership.person_id == Person.id)
        .join(Team, Team.id == TeamMembership.team_id)
        .where(Team.slug == slug)
    )
    return {handle: str(role) for handle, role in rows}


def lead(session: Session, slug: str) -> str | None:
    team = queries.require_team(session, slug=slug)
    return team.lead.handle if team.lead is not None else None


def test_the_seeded_organization_changes_nothing(seeded: Session) -> None:
    changes = sync(seeded, snapshot())
    assert not changes.changed, changes
    assert seeded.scalars(select(JournalEntry)).all() == []


def test_someone_who_joins_is_added_with_their_team(seeded: Session) -> None:
    people = {**PEOPLE, "frank": ("Frank Fox", "frank@acme.example"), "gia": (None, None)}
    teams = {
        "platform": ({"alice", "bob"}, {"alice"}),
        "payments": ({"carol", "dave", "frank"}, {"carol"}),
    }
    changes = sync(seeded, snapshot(people, teams))
    assert changes.joined == ["frank", "gia"]
    assert changes.memberships == [MembershipChange("payments", "frank", "added")]
    frank = queries.require_person(seeded, handle="frank")
    assert (frank.name, frank.email, frank.active) == ("Frank Fox", "frank@acme.example", True)
    gia = queries.require_person(seeded, handle="gia")  # GitHub hides her name and e-mail
    assert (gia.name, gia.email) == ("gia", "gia@users.noreply.github.com")
    assert members(seeded, "payments") == {"carol": "lead", "dave": "member", "frank": "member"}
    journal = seeded.scalars(select(JournalEntry).where(JournalEntry.flow_run_id == RUN)).all()
    assert {(row.action, row.parameters["change"], row.state) for row in journal} == {
        ("registry:people:sync", "joined", "Completed"),
        ("registry:people:sync", "membership added", "Completed"),
    }
    assert not sync(seeded, snapshot(people, teams), run="sync-run-2").changed


def test_membership_changes_and_a_new_maintainer_become_the_lead(seeded: Session) -> None:
    teams = {
        "platform": ({"alice", "bob", "erin"}, {"alice"}),
        # carol is no maintainer any more, dave is: dave leads, carol stays a member.
        "payments": ({"carol", "dave"}, {"dave"}),
    }
    changes = sync(seeded, snapshot(teams=teams))
    assert changes.memberships == [MembershipChange("platform", "erin", "added")]
    assert changes.leads == [LeadChange("payments", "carol", "dave")]
    assert members(seeded, "payments") == {"carol": "member", "dave": "lead"}
    teams = {"platform": ({"alice"}, {"alice"}), "payments": ({"carol", "dave"}, {"dave"})}
    changes = sync(seeded, snapshot(teams=teams))
    assert sorted(changes.memberships, key=str) == sorted(
        [
            MembershipChange("platform", "bob", "removed"),
            MembershipChange("platform", "erin", "removed"),
        ],
        key=str,
    )
    assert queries.require_person(seeded, handle="bob").active  # still in the organization


def test_a_new_github_team_is_added_with_an_unassigned_cost_centre(seeded: Session) -> None:
    teams = {
        "platform": ({"alice", "bob"}, {"alice"}),
        "payments": ({"carol", "dave"}, {"carol"}),
        "data": ({"erin"}, {"erin"}),
        "Not A Slug!": ({"erin"}, set()),
    }
    changes = sync(seeded, snapshot(teams=teams))
    assert changes.teams_added == ["data"]
    assert list(changes.teams_skipped) == ["not a slug!"]
    data = queries.require_team(seeded, slug="data")
    assert (data.cost_center, lead(seeded, "data")) == ("unassigned", "erin")


def test_someone_who_leaves_is_deactivated_not_deleted_and_reported_to_the_lead(
    seeded: Session,
) -> None:
    queries.get_or_create_service(seeded, name="orders", team="payments", owner="dave")
    people = {handle: value for handle, value in PEOPLE.items() if handle != "dave"}
    teams = {"platform": ({"alice", "bob"}, {"alice"}), "payments": ({"carol"}, {"carol"})}
    changes = sync(seeded, snapshot(people, teams))
    dave = queries.require_person(seeded, handle="dave")
    assert dave.active is False and dave.deactivated_at is not None
    assert queries.get_service(seeded, name="orders").owner.handle == "dave"  # type: ignore[union-attr]
    [departure] = changes.left
    assert departure.handle == "dave" and departure.tell == ("carol",)
    assert [
        (need.role, need.subject, need.suggested) for need in departure.report.needs_new_person
    ] == [("owner", "orders", "carol"), ("oncall", "orders", "carol")]
    assert changes.memberships == [MembershipChange("payments", "dave", "removed")]
    actions = {
        (row.action, row.parameters.get("change"))
        for row in seeded.scalars(select(JournalEntry).where(JournalEntry.flow_run_id == RUN))
    }
    assert actions == {
        ("people:deactivate", None),
        ("registry:people:sync", "left"),
        ("registry:people:sync", "membership removed"),
    }
    assert not sync(seeded, snapshot(people, teams), run="sync-run-2").changed


def test_a_lead_who_leaves_hands_the_team_to_a_maintainer_who_is_told(seeded: Session) -> None:
    queries.get_or_create_service(seeded, name="orders", team="payments", owner="carol")
    people = {handle: value for handle, value in PEOPLE.items() if handle != "carol"}
    teams = {"platform": ({"alice", "bob"}, {"alice"}), "payments": ({"dave"}, {"dave"})}
    changes = sync(seeded, snapshot(people, teams))
    [departure] = changes.left
    assert departure.tell == ("dave",)
    roles = {
        (need.role, need.subject): need.suggested for need in departure.report.needs_new_person
    }
    assert roles[("owner", "orders")] == "dave"
    assert roles[("team lead", "payments")] == "dave"
    assert changes.leads == [LeadChange("payments", "carol", "dave")]


def test_someone_back_in_the_organization_is_active_again(seeded: Session) -> None:
    people = {handle: value for handle, value in PEOPLE.items() if handle != "erin"}
    sync(seeded, snapshot(people))
    assert not queries.require_person(seeded, handle="erin").active
    changes = sync(seeded, snapshot(), run="sync-run-2")
    assert changes.reactivated == ["erin"] and changes.joined == []
    erin = queries.require_person(seeded, handle="erin")
    assert erin.active and erin.deactivated_at is None


def test_explicit_lead_notify_channel_and_cost_centre_survive(seeded: Session) -> None:
    set_explicit_lead(seeded, slug="payments", handle="dave")
    queries.set_notify_channel(seeded, handle="carol", channel="custom-webhook/notify-carol")
    changes = sync(seeded, snapshot())  # GitHub says carol maintains payments
    assert changes.leads == [] and lead(seeded, "payments") == "dave"
    assert queries.require_team(seeded, slug="payments").cost_center == "cc-200"
    carol = queries.require_person(seeded, handle="carol")
    assert carol.notify_channel == "custom-webhook/notify-carol"
    # The explicit lead stays a member even when GitHub's team does not list them.
    teams = {"platform": ({"alice", "bob"}, {"alice"}), "payments": ({"carol"}, {"carol"})}
    assert not sync(seeded, snapshot(teams=teams)).memberships
    assert members(seeded, "payments")["dave"] == "lead"
    # An explicit lead who leaves gives the team back to GitHub's maintainer.
    people = {handle: value for handle, value in PEOPLE.items() if handle != "dave"}
    changes = sync(seeded, snapshot(people, teams))
    assert changes.leads == [LeadChange("payments", "dave", "carol")]
    assert queries.require_team(seeded, slug="payments").lead_explicit is False


def test_an_explicit_lead_must_be_active(seeded: Session) -> None:
    queries.upsert_person(seeded, handle="erin", name="Erin", email="e@acme.example", active=False)
    with pytest.raises(NotAuthorized, match="not active"):
        set_explicit_lead(seeded, slug="payments", handle="erin")
    team = set_explicit_lead(seeded, slug="payments", handle=None)
    assert team.lead_explicit is False and lead(seeded, "payments") == "carol"


def test_a_changed_name_is_taken_and_a_hidden_one_kept(seeded: Session) -> None:
    people = {**PEOPLE, "bob": ("Robert Baker", None), "carol": (None, None)}
    changes = sync(seeded, snapshot(people))
    assert changes.updated == ["bob"]
    bob = queries.require_person(seeded, handle="bob")
    assert (bob.name, bob.email) == ("Robert Baker", "bob@acme.example")
    assert queries.require_person(seeded, handle="carol").name == "Carol Chen"
