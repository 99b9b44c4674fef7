"""Reading the organization's people against Paved's fake GitHub: members without the
token's own account, profiles only where asked, teams with their maintainers, and
GitHub's failures sorted into transient and permanent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prefect.logging import disable_run_logger
from pydantic import SecretStr

from blocks import GitHubOrganization
from sandbox.fake_github import APP_TOKEN, FakeGitHubControl, ServerHandle
from tasks.errors import PermanentProviderError, TransientProviderError
from tasks.github_people import OrganizationMember, TeamMembers, read_organization_people


@pytest.fixture
def block(server: ServerHandle, control: FakeGitHubControl) -> Iterator[GitHubOrganization]:
    with disable_run_logger():
        yield GitHubOrganization(
            api_url=server.url,
            organization="acme",
            token=SecretStr(APP_TOKEN),
            seconds_between_requests=0,
            seconds_between_writes=0,
        )


def test_members_and_teams_are_read_and_the_bot_left_out(
    block: GitHubOrganization, control: FakeGitHubControl
) -> None:
    people = read_organization_people.fn(block, profiles_known=["alice", "bob", "dave", "erin"])
    assert people.reader == "paved-bot"
    assert people.members == [
        OrganizationMember(login="alice"),
        OrganizationMember(login="bob"),
        OrganizationMember(login="carol", name="Carol Chen", email="carol@acme.example"),
        OrganizationMember(login="dave"),
        OrganizationMember(login="erin"),
    ]
    assert people.teams == [
        TeamMembers(
            slug="payments", name="Payments", members=["carol", "dave"], maintainers=["carol"]
        ),
        TeamMembers(
            slug="platform", name="Platform", members=["alice", "bob"], maintainers=["alice"]
        ),
    ]
    profile_reads = [
        call["path"] for call in control.requests() if call["path"].startswith("/users/")
    ]
    assert profile_reads == ["/users/carol"]  # one call per person not known yet


def test_a_5xx_is_transient_and_a_403_permanent(
    block: GitHubOrganization, control: FakeGitHubControl
) -> None:
    control.add_fault("/orgs/acme/members", status=502)
    with pytest.raises(TransientProviderError, match="read organization people"):
        read_organization_people.fn(block)
    control.add_fault("/orgs/acme/teams", status=403)
    with pytest.raises(PermanentProviderError, match="HTTP 403"):
        read_organization_people.fn(block)
