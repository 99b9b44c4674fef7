"""GitHub access tasks: a person's team membership and direct repository permission.

Same pattern as tasks.github (whose error conversion they reuse): idempotent calls that
read before they write and return whether they changed anything; removing what is
already gone is success.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from github import UnknownObjectException
from prefect import task

from tasks.github import github_client, github_errors
from tasks.logs import task_logger
from tasks.retries import PROVIDER_TASK_OPTIONS

if TYPE_CHECKING:
    from blocks.github import GitHubOrganization

__all__ = [
    "REPOSITORY_PERMISSIONS",
    "TEAM_ROLES",
    "RepositoryPermission",
    "TeamRole",
    "ensure_collaborator",
    "ensure_team_membership",
    "remove_collaborator",
    "remove_team_membership",
]

TeamRole = Literal["member", "maintainer"]
RepositoryPermission = Literal["pull", "triage", "push", "maintain", "admin"]
TEAM_ROLES: tuple[TeamRole, ...] = ("member", "maintainer")
REPOSITORY_PERMISSIONS: tuple[RepositoryPermission, ...] = (
    "pull",
    "triage",
    "push",
    "maintain",
    "admin",
)


@task(name="github: ensure team membership", **PROVIDER_TASK_OPTIONS)
def ensure_team_membership(
    block: GitHubOrganization, *, team: str, username: str, role: TeamRole
) -> bool:
    """Make `username` a `role` of team `team`; True when it changed the membership."""
    resource = f"{block.organization}/{team}"
    with github_errors(f"add {username} as {role}", resource), github_client(block) as client:
        gh_team = client.get_organization(block.organization).get_team_by_slug(team)
        try:
            current = gh_team.get_team_membership(username)
            if current.role == role and current.state == "active":
                return False
        except UnknownObjectException:
            pass
        gh_team.add_membership(client.get_user(username), role)
        task_logger().info("Made %s a %s of team %s", username, role, resource)
        return True


@task(name="github: remove team membership", **PROVIDER_TASK_OPTIONS)
def remove_team_membership(block: GitHubOrganization, *, team: str, username: str) -> bool:
    """Take `username` out of team `team`; True when they were in it."""
    resource = f"{block.organization}/{team}"
    with github_errors(f"remove {username}", resource), github_client(block) as client:
        gh_team = client.get_organization(block.organization).get_team_by_slug(team)
        try:
            gh_team.get_team_membership(username)
        except UnknownObjectException:
            return False
        gh_team.remove_membership(client.get_user(username))
        task_logger().info("Removed %s from team %s", username, resource)
        return True


@task(name="github: ensure collaborator", **PROVIDER_TASK_OPTIONS)
def ensure_collaborator(
    block: GitHubOrganization, *, full_name: str, username: str, permission: RepositoryPermission
) -> bool:
    """Give `username` `permission` directly on the repository; True when it changed it.

    GitHub reports the person's highest permission from any source (teams included): a
    direct grant is written unless it is already exactly that one.
    """
    with (
        github_errors(f"grant {permission} to {username}", full_name),
        github_client(block) as client,
    ):
        repo = client.get_repo(full_name)
        direct = {c.login.lower(): c for c in repo.get_collaborators(affiliation="direct")}
        current = direct.get(username.lower())
        if current is not None and _role_of(current) == permission:
            return False
        repo.add_to_collaborators(username, permission)
        task_logger().info("Gave %s %s on %s", username, permission, full_name)
        return True


def _role_of(collaborator: object) -> str | None:
    role = getattr(collaborator, "role_name", None)
    if role:
        return {"read": "pull", "write": "push"}.get(str(role), str(role))
    permissions = getattr(collaborator, "permissions", None)
    for name in ("admin", "maintain", "push", "triage", "pull"):
        if getattr(permissions, name, False):
            return name
    return None


@task(name="github: remove collaborator", **PROVIDER_TASK_OPTIONS)
def remove_collaborator(block: GitHubOrganization, *, full_name: str, username: str) -> bool:
    """Take away `username`'s direct access; True when they had it (team access stays)."""
    with github_errors(f"remove {username}", full_name), github_client(block) as client:
        repo = client.get_repo(full_name)
        direct = {c.login.lower() for c in repo.get_collaborators(affiliation="direct")}
        if username.lower() not in direct:
            return False
        repo.remove_from_collaborators(username)
        task_logger().info("Removed %s's direct access to %s", username, full_name)
        return True
