"""GitHub tasks of a service's later life: ownership moves and decommissioning.

Kept apart from tasks/github.py (creation) so each module stays about one moment of a
repository's life. Same conventions: idempotent, errors classified by tasks.github's
`github_errors`, one short-lived client per task.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from github import UnknownObjectException
from prefect import task

from tasks.github import github_client, github_errors
from tasks.logs import task_logger
from tasks.retries import PROVIDER_TASK_OPTIONS

if TYPE_CHECKING:
    from blocks.github import GitHubOrganization

__all__ = ["archive_repository", "remove_team_permission", "replace_topic"]


@task(name="github: archive repository", **PROVIDER_TASK_OPTIONS)
def archive_repository(block: GitHubOrganization, *, full_name: str) -> bool:
    """Archive the repository (read-only, history kept); True when this call archived it.

    A repository that is already gone counts as done: decommissioning ignores what is
    no longer there.
    """
    with github_errors("archive repository", full_name), github_client(block) as client:
        try:
            repo = client.get_repo(full_name)
        except UnknownObjectException:
            task_logger().info("%s is already gone", full_name)
            return False
        if repo.archived:
            return False
        repo.edit(archived=True)
        return True


@task(name="github: replace topic", **PROVIDER_TASK_OPTIONS)
def replace_topic(block: GitHubOrganization, *, full_name: str, old: str, new: str) -> bool:
    """Swap topic `old` for `new` (the owning team's topic on a transfer)."""
    with github_errors("replace topic", full_name), github_client(block) as client:
        repo = client.get_repo(full_name)
        current = repo.get_topics()
        wanted = sorted((set(current) - {old}) | {new})
        if sorted(current) == wanted:
            return False
        repo.replace_topics(wanted)
        return True


@task(name="github: remove team permission", **PROVIDER_TASK_OPTIONS)
def remove_team_permission(block: GitHubOrganization, *, team: str, full_name: str) -> bool:
    """Take team `team`'s access to the repository away; True when it had some."""
    with github_errors(f"remove team {team}", full_name), github_client(block) as client:
        gh_team = client.get_organization(block.organization).get_team_by_slug(team)
        repo = client.get_repo(full_name)
        if gh_team.get_repo_permission(repo) is None:
            return False
        gh_team.remove_from_repos(repo)
        return True
