"""`registry:people:sync` — the registry's people and teams follow the GitHub organization.

Deployed to run hourly (and on demand: `paved run registry:people:sync`). It reads the
organization's members, teams and team maintainers through the GitHub block, then
applies them to the registry in one transaction (`registry.people.apply_org_snapshot`):
someone who joins is added, a deactivated person back in the organization is active
again, memberships follow GitHub's teams, a team's maintainer is its lead unless Paved
holds an explicit lead. Someone who left is deactivated, never deleted; what they own,
approve, watch or lead is sent to the leads of their teams through their notification
channels. Every change is journaled under the run; re-running changes nothing.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from pydantic import BaseModel, Field
from sqlalchemy import select

from blocks import GITHUB_BLOCK, GitHubOrganization, load_block
from flows.engine.notify_failure import notify_people
from flows.engine.request import PavedRequest
from flows.engine.runtime import journaled
from flows.engine.session import registry_session
from registry.models import Person
from registry.people import SYNC_ACTION, Departure, OrgPerson, OrgSnapshot, OrgTeam
from registry.people import apply_org_snapshot as apply_snapshot
from tasks.github_people import OrganizationPeople, read_organization_people

__all__ = ["ACTION", "PeopleSyncResult", "departure_message", "registry_people_sync"]

ACTION = SYNC_ACTION
# Who asks for a sync: Paved itself, on its schedule or for whoever ran it.
SYNC_REQUESTER = "paved"


class PeopleSyncResult(BaseModel):
    """What one sync changed."""

    organization: str = Field(description="The GitHub organization read.")
    joined: list[str] = Field(description="People added to the registry.")
    reactivated: list[str] = Field(description="Deactivated people who are back.")
    updated: list[str] = Field(description="People whose name or e-mail changed.")
    left: list[str] = Field(description="People deactivated: no longer in the organization.")
    memberships: list[str] = Field(description="`<team>: +<handle>` or `<team>: -<handle>`.")
    leads: list[str] = Field(description="`<team>: <before> -> <after>`.")
    teams_added: list[str] = Field(description="GitHub teams new to the registry.")
    teams_skipped: dict[str, str] = Field(description="GitHub teams Paved cannot name, and why.")
    told: dict[str, dict[str, str]] = Field(
        description="Per departed person, each lead told and how it went (`sent`, ...)."
    )


def departure_message(organization: str, departure: Departure) -> tuple[str, str]:
    """The subject and body sent to the leads about someone who left."""
    report = departure.report
    lines = [
        f"{departure.handle} is no longer a member of the GitHub organization {organization}.",
        "Paved deactivated them (nothing was deleted); they can no longer ask for anything.",
        "",
    ]
    if report.needs_new_person:
        lines.append("What they held needs a new person:")
        for need in report.needs_new_person:
            what = "team" if need.role == "team lead" else "service"
            suggested = f"; suggested: {need.suggested}" if need.suggested else ""
            lines.append(f"- {need.role} of {what} {need.subject} (team {need.team}){suggested}")
        lines += ["", "Hand services over with service:transfer."]
    else:
        lines.append("They owned, approved, watched and led nothing.")
    return f"Paved: {departure.handle} left {organization}", "\n".join(lines)


def _snapshot(people: OrganizationPeople) -> OrgSnapshot:
    return OrgSnapshot(
        people=tuple(
            OrgPerson(handle=member.login, name=member.name, email=member.email)
            for member in people.members
        ),
        teams=tuple(
            OrgTeam(
                slug=team.slug,
                name=team.name,
                members=frozenset(team.members),
                maintainers=frozenset(team.maintainers),
            )
            for team in people.teams
        ),
    )


@flow(name="registry-people-sync", flow_run_name="sync-people", log_prints=False)
def registry_people_sync() -> PeopleSyncResult:
    """Apply the GitHub organization's members and teams to the registry's people."""
    logger = get_run_logger()
    block = load_block(GitHubOrganization, GITHUB_BLOCK)
    request = PavedRequest(requester=SYNC_REQUESTER)
    with journaled(action=ACTION, request=request, team="", service="") as journal:
        with registry_session() as session:
            # Profiles are read only for people the registry does not know yet.
            known = list(session.scalars(select(Person.handle)))
        people = read_organization_people(block, profiles_known=known)
        with registry_session() as session:
            changes = apply_snapshot(
                session,
                snapshot=_snapshot(people),
                requester=SYNC_REQUESTER,
                flow_run_id=journal.flow_run_id,
            )
        told: dict[str, dict[str, str]] = {}
        for departure in changes.left:
            subject, body = departure_message(people.organization, departure)
            if not departure.tell:
                logger.warning("%s left and no team lead is there to be told", departure.handle)
            told[departure.handle] = notify_people(departure.tell, subject=subject, body=body)
        result = PeopleSyncResult(
            organization=people.organization,
            joined=changes.joined,
            reactivated=changes.reactivated,
            updated=changes.updated,
            left=[departure.handle for departure in changes.left],
            memberships=[
                f"{change.team}: {'+' if change.change == 'added' else '-'}{change.handle}"
                for change in changes.memberships
            ],
            leads=[f"{lead.team}: {lead.before} -> {lead.after}" for lead in changes.leads],
            teams_added=changes.teams_added,
            teams_skipped=changes.teams_skipped,
            told=told,
        )
    logger.info(
        "People sync of %s: %d joined, %d back, %d left, %d membership changes, %d lead changes",
        people.organization,
        len(result.joined),
        len(result.reactivated),
        len(result.left),
        len(result.memberships),
        len(result.leads),
    )
    return result
