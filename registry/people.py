"""People and teams: who may ask for things and who answers for them.

Query functions take the session first and keyword arguments after it, flush what they
write and never commit: the caller's ``session_scope`` decides.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from registry._support import normalize_handle, require_text
from registry.errors import NotAuthorized, NotFound, PolicyViolation
from registry.journal import append_journal
from registry.models import Person, Team, TeamMembership, TeamRole, utc_now
from registry.policy import TEAM_SLUG_MAX, validate_name

if TYPE_CHECKING:
    from registry.answers import DeactivationReport

__all__ = [
    "SYNC_ACTION",
    "Departure",
    "LeadChange",
    "MembershipChange",
    "OrgPerson",
    "OrgSnapshot",
    "OrgTeam",
    "PeopleChanges",
    "active_team_members",
    "apply_org_snapshot",
    "get_person",
    "get_team",
    "require_active_member",
    "require_active_person",
    "require_person",
    "require_team",
    "set_explicit_lead",
    "team_members",
    "upsert_person",
    "upsert_team",
]

# A GitHub login: letters, digits and single hyphens, not at either end, at most 39.
_LOGIN_MAX = 39


# --- people -------------------------------------------------------------------------


def upsert_person(
    session: Session, *, handle: str, name: str, email: str, active: bool = True
) -> Person:
    """Create or update the person with this GitHub ``handle`` (stored lowercase).

    Deactivating records when it happened; reactivating clears it.
    """
    normalized = normalize_handle(handle)
    if not (
        0 < len(normalized) <= _LOGIN_MAX
        and normalized[0] != "-"
        and normalized[-1] != "-"
        and "--" not in normalized
        and all(c.isascii() and (c.isalnum() or c == "-") for c in normalized)
    ):
        raise PolicyViolation(
            f"person handle {handle!r} is not a GitHub login: use letters, digits and "
            f"single hyphens, at most {_LOGIN_MAX} characters"
        )
    require_text(name, what=f"name of {normalized!r}", max_length=200)
    require_text(email, what=f"email of {normalized!r}", max_length=320)
    person = get_person(session, handle=normalized)
    if person is None:
        person = Person(
            handle=normalized,
            name=name,
            email=email,
            active=active,
            deactivated_at=None if active else utc_now(),
        )
        session.add(person)
    else:
        person.name = name
        person.email = email
        if person.active and not active:
            person.deactivated_at = utc_now()
        elif active:
            person.deactivated_at = None
        person.active = active
    session.flush()
    return person


def get_person(session: Session, *, handle: str) -> Person | None:
    """The person with this handle (case-insensitive), or None."""
    return session.scalars(
        select(Person).where(Person.handle == normalize_handle(handle))
    ).one_or_none()


def require_person(session: Session, *, handle: str) -> Person:
    """The person with this handle; NotFound if the registry does not know them."""
    person = get_person(session, handle=handle)
    if person is None:
        raise NotFound(f"no person {handle!r} in the registry")
    return person


def require_active_person(session: Session, *, handle: str, role: str) -> Person:
    """The person with this handle if they are active.

    NotFound if unknown, NotAuthorized if deactivated; ``role`` is the request field that
    named them ("owner", "oncall"), so the message points at the field to fix.
    """
    person = get_person(session, handle=handle)
    if person is None:
        raise NotFound(f"no person {handle!r} in the registry (given as {role})")
    if not person.active:
        since = f" since {person.deactivated_at:%Y-%m-%d}" if person.deactivated_at else ""
        raise NotAuthorized(f"{role} {handle!r} is not active in the registry (deactivated{since})")
    return person


# --- teams --------------------------------------------------------------------------


def upsert_team(
    session: Session,
    *,
    slug: str,
    name: str,
    lead: str | None,
    cost_center: str,
    members: Iterable[str],
) -> Team:
    """Create or update a team and make its membership exactly ``members`` plus ``lead``.

    Members are handles; the lead is a member with role ``lead``. Unknown handles raise
    NotFound and nothing is changed.
    """
    validate_name(slug, what="team slug", max_length=TEAM_SLUG_MAX)
    require_text(name, what=f"name of team {slug!r}", max_length=200)
    require_text(cost_center, what=f"cost center of team {slug!r}", max_length=64)
    wanted = {normalize_handle(handle): TeamRole.MEMBER for handle in members}
    if lead is not None:
        wanted[normalize_handle(lead)] = TeamRole.LEAD
    people = {handle: require_person(session, handle=handle) for handle in wanted}
    lead_person = people[normalize_handle(lead)] if lead is not None else None

    team = session.scalars(
        select(Team).where(Team.slug == slug).options(selectinload(Team.memberships))
    ).one_or_none()
    if team is None:
        team = Team(slug=slug, name=name, cost_center=cost_center, lead=lead_person)
        session.add(team)
    else:
        team.name = name
        team.cost_center = cost_center
        team.lead = lead_person
    wanted_by_id = {people[handle].id: role for handle, role in wanted.items()}
    for membership in list(team.memberships):
        if membership.person_id not in wanted_by_id:
            team.memberships.remove(membership)
        else:
            membership.role = wanted_by_id.pop(membership.person_id)
    by_id = {person.id: person for person in people.values()}
    for person_id, role in wanted_by_id.items():
        team.memberships.append(TeamMembership(person=by_id[person_id], role=role))
    session.flush()
    return team


def get_team(session: Session, *, slug: str) -> Team | None:
    """The team with this slug (its lead loaded), or None."""
    return session.scalars(
        select(Team).where(Team.slug == slug).options(joinedload(Team.lead))
    ).one_or_none()


def require_team(session: Session, *, slug: str) -> Team:
    """The team with this slug; NotFound naming the teams the registry knows."""
    team = get_team(session, slug=slug)
    if team is None:
        known = session.scalars(select(Team.slug).order_by(Team.slug)).all()
        listed = ", ".join(known) if known else "none yet"
        raise NotFound(f"no team {slug!r} in the registry (known teams: {listed})")
    return team


def team_members(session: Session, *, slug: str) -> list[str]:
    """The handles of the team's members, lead included, sorted."""
    team = require_team(session, slug=slug)
    return list(
        session.scalars(
            select(Person.handle)
            .join(TeamMembership, TeamMembership.person_id == Person.id)
            .where(TeamMembership.team_id == team.id)
            .order_by(Person.handle)
        )
    )


def active_team_members(session: Session, *, slug: str) -> list[str]:
    """The handles of the team's active members, lead included, sorted; NotFound for an
    unknown team."""
    team = require_team(session, slug=slug)
    return list(
        session.scalars(
            select(Person.handle)
            .join(TeamMembership, TeamMembership.person_id == Person.id)
            .where(TeamMembership.team_id == team.id, Person.active.is_(True))
            .order_by(Person.handle)
        )
    )


def require_active_member(session: Session, *, team: str, handle: str, role: str) -> Person:
    """The person if they are active and a member of ``team``.

    NotFound for an unknown team or person; NotAuthorized for an inactive person or a
    non-member. ``role`` is the request field that named them ("owner", "requester").
    """
    team_row = require_team(session, slug=team)
    person = require_active_person(session, handle=handle, role=role)
    is_member = session.scalar(
        select(TeamMembership.id).where(
            TeamMembership.team_id == team_row.id, TeamMembership.person_id == person.id
        )
    )
    if is_member is None:
        members = ", ".join(team_members(session, slug=team)) or "none"
        raise NotAuthorized(
            f"{role} {handle!r} is not a member of team {team!r} (members: {members})"
        )
    return person


def set_explicit_lead(session: Session, *, slug: str, handle: str | None) -> Team:
    """Name the team's lead in Paved, on purpose: the people sync keeps it while that
    person is active. ``None`` hands the choice back to the sync (GitHub's maintainers).

    The lead becomes a member with role ``lead``; NotAuthorized for an inactive person.
    """
    team = session.scalars(
        select(Team).where(Team.slug == slug).options(selectinload(Team.memberships))
    ).one_or_none()
    if team is None:
        require_team(session, slug=slug)  # raises NotFound naming the known teams
        raise AssertionError("unreachable")
    if handle is None:
        team.lead_explicit = False
        session.flush()
        return team
    person = require_active_person(session, handle=handle, role="team lead")
    _set_lead(team, person)
    team.lead_explicit = True
    session.flush()
    return team


def _set_lead(team: Team, lead: Person | None) -> None:
    """Make ``lead`` the team's lead (a member with role lead); the previous lead stays a
    member. ``team.memberships`` must be loaded."""
    for membership in team.memberships:
        if membership.role == TeamRole.LEAD and (lead is None or not _is(membership, lead)):
            membership.role = TeamRole.MEMBER
    team.lead = lead
    if lead is None:
        return
    for membership in team.memberships:
        if _is(membership, lead):
            membership.role = TeamRole.LEAD
            return
    team.memberships.append(TeamMembership(person=lead, role=TeamRole.LEAD))


def _is(membership: TeamMembership, person: Person) -> bool:
    # A membership added in this session has no person_id until the next flush.
    if membership.person_id is not None:
        return membership.person_id == person.id
    return membership.person is person


# --- the organization, as GitHub has it -----------------------------------------------

SYNC_ACTION = "registry:people:sync"
# A new GitHub team has no cost centre yet: Paved-only, set by a person afterwards.
UNASSIGNED_COST_CENTER = "unassigned"


@dataclass(frozen=True)
class OrgPerson:
    """A member of the GitHub organization. GitHub may hide a name or e-mail (None)."""

    handle: str
    name: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class OrgTeam:
    """A team of the organization: its members and, among them, its maintainers."""

    slug: str
    name: str
    members: frozenset[str] = frozenset()
    maintainers: frozenset[str] = frozenset()


@dataclass(frozen=True)
class OrgSnapshot:
    """Who is in the organization and its teams, read at one time."""

    people: tuple[OrgPerson, ...]
    teams: tuple[OrgTeam, ...]


@dataclass(frozen=True)
class MembershipChange:
    """Someone joined or left a team in the registry."""

    team: str
    handle: str
    change: str  # "added" | "removed"


@dataclass(frozen=True)
class LeadChange:
    """A team's lead changed (None: no lead)."""

    team: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class Departure:
    """Someone who left the organization: deactivated, never deleted. ``report`` lists
    what they own, approve, watch or lead (as `paved people deactivate` does); ``tell``
    are the leads of their teams who must hear of it."""

    handle: str
    report: DeactivationReport
    tell: tuple[str, ...]


@dataclass
class PeopleChanges:
    """What one sync changed in the registry."""

    joined: list[str] = field(default_factory=list)
    reactivated: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    left: list[Departure] = field(default_factory=list)
    teams_added: list[str] = field(default_factory=list)
    teams_skipped: dict[str, str] = field(default_factory=dict)
    memberships: list[MembershipChange] = field(default_factory=list)
    leads: list[LeadChange] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether anything was written."""
        return bool(
            self.joined
            or self.reactivated
            or self.updated
            or self.left
            or self.teams_added
            or self.memberships
            or self.leads
        )


def apply_org_snapshot(
    session: Session, *, snapshot: OrgSnapshot, requester: str, flow_run_id: str
) -> PeopleChanges:
    """Make the registry's people and teams what the organization says, and say what changed.

    - A member the registry does not know is added; a deactivated one is active again;
      a changed name or e-mail is taken (what GitHub hides is kept).
    - An active person who is not a member any more is deactivated, never deleted: the
      departure lists what they own, approve, watch or lead, and the leads to tell.
    - Each known team's membership becomes its GitHub members; a GitHub team the registry
      does not know is added with cost centre `unassigned`. Teams only the registry knows
      are left alone.
    - A team's lead is its explicit lead while that person is active; otherwise the current
      lead if still a maintainer, else the first maintainer by handle, else (no maintainer)
      the current lead if still an active member.
    - Notification channels, cost centres, budgets and explicit leads are Paved's: kept.

    Every change is journaled as ``registry:people:sync`` under ``flow_run_id``; each
    departure also as ``people:deactivate``. Applying the same snapshot again changes nothing.
    """
    changes = PeopleChanges()
    members = {normalize_handle(person.handle): person for person in snapshot.people}
    for handle, member in sorted(members.items()):
        _apply_person(session, handle, member, changes)
    people = {person.handle: person for person in session.scalars(select(Person))}
    leaving = sorted(
        handle for handle, person in people.items() if person.active and handle not in members
    )
    # Imported here: registry.answers builds on this module.
    from registry.answers import deactivate_person

    reports = {
        handle: deactivate_person(
            session, handle=handle, requester=requester, journal_flow_run_id=flow_run_id
        )
        for handle in leaving
    }
    teams_before = _teams_of(session, leaving)
    for org_team in sorted(snapshot.teams, key=lambda team: team.slug):
        _apply_team(session, org_team, people, changes)
    session.flush()
    leads = {
        team.slug: team.lead.handle if team.lead is not None and team.lead.active else None
        for team in session.scalars(select(Team).options(joinedload(Team.lead)))
    }
    for handle in leaving:
        changes.left.append(_departure(handle, reports[handle], teams_before[handle], leads))
    _journal(session, changes, requester=requester, flow_run_id=flow_run_id)
    return changes


def _apply_person(session: Session, handle: str, member: OrgPerson, changes: PeopleChanges) -> None:
    person = get_person(session, handle=handle)
    if person is None:
        upsert_person(
            session,
            handle=handle,
            name=member.name or handle,
            # GitHub's own address for someone who keeps theirs private.
            email=member.email or f"{handle}@users.noreply.github.com",
        )
        changes.joined.append(handle)
        return
    name = member.name or person.name
    email = member.email or person.email
    if not person.active:
        changes.reactivated.append(handle)
    elif (name, email) != (person.name, person.email):
        changes.updated.append(handle)
    else:
        return
    upsert_person(session, handle=handle, name=name, email=email, active=True)


def _teams_of(session: Session, handles: list[str]) -> dict[str, set[str]]:
    teams: dict[str, set[str]] = {handle: set() for handle in handles}
    rows = session.execute(
        select(Person.handle, Team.slug)
        .join(TeamMembership, TeamMembership.person_id == Person.id)
        .join(Team, Team.id == TeamMembership.team_id)
        .where(Person.handle.in_(handles))
    )
    for handle, slug in rows:
        teams[handle].add(slug)
    return teams


def _apply_team(
    session: Session, org_team: OrgTeam, people: dict[str, Person], changes: PeopleChanges
) -> None:
    slug = org_team.slug.lower()
    team = session.scalars(
        select(Team)
        .where(Team.slug == slug)
        .options(selectinload(Team.memberships).joinedload(TeamMembership.person))
        .options(joinedload(Team.lead))
    ).one_or_none()
    if team is None:
        try:
            validate_name(slug, what="team slug", max_length=TEAM_SLUG_MAX)
        except PolicyViolation as exc:
            changes.teams_skipped[slug] = str(exc)
            return
        team = Team(
            slug=slug, name=org_team.name or slug, cost_center=UNASSIGNED_COST_CENTER, lead=None
        )
        team.memberships = []
        session.add(team)
        changes.teams_added.append(slug)

    def active(handles: Iterable[str]) -> set[str]:
        found = (people.get(normalize_handle(handle)) for handle in handles)
        return {person.handle for person in found if person is not None and person.active}

    maintainers = active(org_team.maintainers)
    wanted = active(org_team.members) | maintainers
    lead_before = team.lead
    explicit = team.lead_explicit and lead_before is not None and lead_before.active
    if explicit:
        assert lead_before is not None
        wanted.add(lead_before.handle)  # Paved's own fact: the explicit lead stays a member
    for membership in list(team.memberships):
        if membership.person.handle not in wanted:
            team.memberships.remove(membership)
            changes.memberships.append(MembershipChange(slug, membership.person.handle, "removed"))
    present = {membership.person.handle for membership in team.memberships}
    for handle in sorted(wanted - present):
        team.memberships.append(TeamMembership(person=people[handle], role=TeamRole.MEMBER))
        changes.memberships.append(MembershipChange(slug, handle, "added"))
    lead = lead_before if explicit else _sync_lead(lead_before, maintainers, wanted, people)
    if not explicit:
        team.lead_explicit = False
    _set_lead(team, lead)
    before = lead_before.handle if lead_before is not None else None
    after = lead.handle if lead is not None else None
    if before != after:
        changes.leads.append(LeadChange(slug, before, after))


def _sync_lead(
    current: Person | None, maintainers: set[str], members: set[str], people: dict[str, Person]
) -> Person | None:
    if current is not None and current.handle in maintainers:
        return current
    if maintainers:
        return people[min(maintainers)]
    if current is not None and current.active and current.handle in members:
        return current
    return None


def _departure(
    handle: str,
    report: DeactivationReport,
    teams: set[str],
    leads: dict[str, str | None],
) -> Departure:
    # The report was taken before the teams moved on: suggest each team's new lead.
    needs = [
        replace(need, suggested=leads.get(need.team))
        if need.suggested is None and leads.get(need.team) not in (None, handle)
        else need
        for need in report.needs_new_person
    ]
    involved = teams | {need.team for need in needs}
    tell = sorted(
        {lead for slug in involved if (lead := leads.get(slug)) is not None and lead != handle}
    )
    return Departure(
        handle=handle, report=replace(report, needs_new_person=needs), tell=tuple(tell)
    )


def _journal(session: Session, changes: PeopleChanges, *, requester: str, flow_run_id: str) -> None:
    rows: list[tuple[str, dict[str, Any]]] = []
    rows += [("", {"change": "joined", "handle": handle}) for handle in changes.joined]
    rows += [("", {"change": "reactivated", "handle": handle}) for handle in changes.reactivated]
    rows += [("", {"change": "updated", "handle": handle}) for handle in changes.updated]
    rows += [
        (
            ",".join(sorted({need.team for need in departure.report.needs_new_person})),
            {"change": "left", "handle": departure.handle, "told": list(departure.tell)},
        )
        for departure in changes.left
    ]
    rows += [(slug, {"change": "team added", "team": slug}) for slug in changes.teams_added]
    rows += [
        (change.team, {"change": f"membership {change.change}", "handle": change.handle})
        for change in changes.memberships
    ]
    rows += [
        (lead.team, {"change": "lead changed", "before": lead.before, "after": lead.after})
        for lead in changes.leads
    ]
    now = utc_now()
    for team, parameters in rows:
        append_journal(
            session,
            flow_run_id=flow_run_id,
            action=SYNC_ACTION,
            requester=requester,
            team=team,
            service="",
            parameters=parameters,
            state="Completed",
            started_at=now,
            ended_at=now,
        )
