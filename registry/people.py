"""People and teams: who may ask for things and who answers for them.

Query functions take the session first and keyword arguments after it, flush what they
write and never commit: the caller's ``session_scope`` decides.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from registry._support import normalize_handle, require_text
from registry.errors import NotAuthorized, NotFound, PolicyViolation
from registry.models import Person, Team, TeamMembership, TeamRole, utc_now
from registry.policy import TEAM_SLUG_MAX, validate_name

__all__ = [
    "active_team_members",
    "get_person",
    "get_team",
    "require_active_member",
    "require_active_person",
    "require_person",
    "require_team",
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
