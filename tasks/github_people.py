"""GitHub people tasks: who is in the organization and its teams, for the people sync.

Same pattern as tasks.github (whose client and error conversion they reuse): read-only
calls, transient failures retried, permanent ones failing the run at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prefect import task
from pydantic import BaseModel, Field

from tasks.github import github_client, github_errors
from tasks.logs import task_logger
from tasks.retries import PROVIDER_TASK_OPTIONS

if TYPE_CHECKING:
    from blocks.github import GitHubOrganization

__all__ = ["OrganizationMember", "OrganizationPeople", "TeamMembers", "read_organization_people"]


class OrganizationMember(BaseModel):
    """A member of the organization; GitHub's profile fields when they were read."""

    login: str = Field(description="GitHub login.")
    name: str | None = Field(default=None, description="Profile name; None if hidden or unread.")
    email: str | None = Field(default=None, description="Public e-mail; None if hidden or unread.")


class TeamMembers(BaseModel):
    """A team of the organization and who is in it."""

    slug: str = Field(description="The team's slug.")
    name: str = Field(description="The team's display name.")
    members: list[str] = Field(description="Logins of every member, maintainers included.")
    maintainers: list[str] = Field(description="Logins of the team's maintainers.")


class OrganizationPeople(BaseModel):
    """Who is in the organization and its teams, as the token's account sees it."""

    organization: str = Field(description="The organization's login.")
    reader: str = Field(description="Login of the account whose token read this (Paved's).")
    members: list[OrganizationMember] = Field(description="People, the reader left out.")
    teams: list[TeamMembers] = Field(description="Every team of the organization.")


@task(name="github: read organization people", **PROVIDER_TASK_OPTIONS)
def read_organization_people(
    block: GitHubOrganization, *, profiles_known: list[str] | None = None
) -> OrganizationPeople:
    """The organization's members and teams (members and maintainers of each).

    A profile (name, e-mail) costs one call per person: it is not read for the logins in
    `profiles_known` (the caller has them already; their name and e-mail come back None).
    The account the block's token belongs to (Paved's own) is not a person: left out.
    """
    logger = task_logger()
    known = {login.lower() for login in profiles_known or ()}
    with (
        github_errors("read organization people", block.organization),
        github_client(block) as client,
    ):
        reader = client.get_user().login
        org = client.get_organization(block.organization)
        members = []
        for user in org.get_members():
            if user.login.lower() == reader.lower():
                continue
            if user.login.lower() not in known:
                profile = client.get_user(user.login)
                members.append(
                    OrganizationMember(login=user.login, name=profile.name, email=profile.email)
                )
            else:
                members.append(OrganizationMember(login=user.login))
        teams = [
            TeamMembers(
                slug=team.slug,
                name=team.name,
                members=sorted(member.login for member in team.get_members(role="all")),
                maintainers=sorted(member.login for member in team.get_members(role="maintainer")),
            )
            for team in org.get_teams()
        ]
    logger.info("%s has %d members and %d teams", block.organization, len(members), len(teams))
    return OrganizationPeople(
        organization=block.organization, reader=reader, members=members, teams=teams
    )
