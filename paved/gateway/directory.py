"""What the gateway asks the registry: who a person is, and who may approve a run.

Synchronous SQLAlchemy, one engine per gateway process; the app calls these through a
thread pool. People are read on every request (an indexed lookup): a person deactivated in
the registry is refused at their next call.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from registry import queries
from registry.db import make_engine, session_scope
from registry.journal import REFUSED
from registry.models import Person, Team, TeamMembership

__all__ = ["Directory", "PersonFacts"]


@dataclass(frozen=True)
class PersonFacts:
    """A person as the gateway decides with: active or not, their teams, admin or not."""

    handle: str
    active: bool
    teams: frozenset[str]
    admin: bool


class Directory:
    """The registry, read (and journaled to) on the gateway's behalf."""

    def __init__(self, registry_url: str, *, admin_team: str) -> None:
        self._engine = make_engine(registry_url)
        self._admin_team = admin_team

    def close(self) -> None:
        self._engine.dispose()

    def person(self, handle: str) -> PersonFacts | None:
        """The person whose GitHub login is `handle` (case-insensitive), or None."""
        return self._read_person(handle.lower())

    def _read_person(self, handle: str) -> PersonFacts | None:
        with session_scope(self._engine) as session:
            person = queries.get_person(session, handle=handle)
            if person is None:
                return None
            teams = frozenset(
                session.scalars(
                    select(Team.slug)
                    .join(TeamMembership, TeamMembership.team_id == Team.id)
                    .join(Person, Person.id == TeamMembership.person_id)
                    .where(Person.id == person.id)
                )
            )
            return PersonFacts(
                handle=person.handle,
                active=person.active,
                teams=teams,
                admin=person.active and self._admin_team in teams,
            )

    def pending_approver(self, flow_run_id: str) -> str | None:
        """Who the run's open approval request was sent to, or None when it waits for none."""
        with session_scope(self._engine) as session:
            return queries.pending_approval(session, flow_run_id=flow_run_id)

    def journal_refusal(self, flow_run_id: str, *, who: str, what: str, reason: str) -> bool:
        """Append a `Refused` row to the run's journal: who tried what, and why not.

        Returns False when the run has no journal yet (it never started): nothing to add to.
        """
        with session_scope(self._engine) as session:
            appended = queries.append_run_state(
                session,
                flow_run_id=flow_run_id,
                state=REFUSED,
                key="refused",
                extra={"who": who, "tried": what},
                error=reason,
            )
            return appended is not None
