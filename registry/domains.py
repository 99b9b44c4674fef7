"""Kafka topic domains: which first parts of topic names a team may use.

A team's topics are ``<domain>.<service>.<event>``. The domain is the owning team's slug,
or a domain granted to the team here (one team per domain). ``paved`` is Paved's own
(its ``paved.registry.v1`` events) and is never a team's.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry._support import add_unique
from registry.errors import Conflict, NotAuthorized, PolicyViolation
from registry.models import Team, TeamDomain
from registry.people import get_team, require_team
from registry.policy import RESERVED_TOPIC_DOMAIN, TOPIC_PART_MAX, validate_name

__all__ = ["grant_topic_domain", "require_topic_domain", "topic_domains"]


def _refuse_reserved(domain: str) -> None:
    if domain == RESERVED_TOPIC_DOMAIN:
        raise PolicyViolation(
            f"topic domain {domain!r} is reserved: topics `{RESERVED_TOPIC_DOMAIN}.*` are "
            "Paved's own (its registry events); use your team's domain"
        )


def grant_topic_domain(session: Session, *, team: str, domain: str) -> TeamDomain:
    """Let ``team`` name topics ``<domain>.*`` (idempotent). Conflict when the domain is
    another team's slug or granted to another team; PolicyViolation for ``paved``."""
    validate_name(domain, what="topic domain", max_length=TOPIC_PART_MAX)
    _refuse_reserved(domain)
    owner = require_team(session, slug=team)
    other_team = get_team(session, slug=domain)
    if other_team is not None and other_team.id != owner.id:
        raise Conflict(
            f"topic domain {domain!r} is the slug of team {domain!r}; it cannot be granted"
        )

    def reload() -> TeamDomain | None:
        return session.scalars(select(TeamDomain).where(TeamDomain.domain == domain)).one_or_none()

    granted = reload()
    if granted is None:
        granted = add_unique(session, TeamDomain(team_id=owner.id, domain=domain), reload=reload)
    if granted.team_id != owner.id:
        holder = session.get(Team, granted.team_id)
        raise Conflict(
            f"topic domain {domain!r} is granted to team {holder.slug if holder else '?'!r} already"
        )
    return granted


def topic_domains(session: Session, *, team: str) -> list[str]:
    """The domains ``team`` may use: its slug first, then those granted to it, sorted."""
    owner = require_team(session, slug=team)
    granted = session.scalars(
        select(TeamDomain.domain).where(TeamDomain.team_id == owner.id).order_by(TeamDomain.domain)
    ).all()
    return [owner.slug, *granted]


def require_topic_domain(session: Session, *, team: str, domain: str) -> str:
    """``domain`` if ``team`` may name topics with it; PolicyViolation for Paved's own
    domain, NotAuthorized naming the domains the team has otherwise."""
    _refuse_reserved(domain)
    allowed = topic_domains(session, team=team)
    if domain not in allowed:
        raise NotAuthorized(
            f"team {team!r} may not name topics `{domain}.*`: its topic domains are "
            f"{', '.join(allowed)} (a domain is granted to a team in the registry)"
        )
    return domain
