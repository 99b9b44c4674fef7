"""Drift remediation on GitHub: put a repository back to what the registry declares.

The drift audit calls this, after the change approver's approval, for a repository whose
audited settings changed behind Paved's back. Each setting is read, compared and written
only when it differs, so a second call changes nothing and returns no change. The order
matters: GitHub refuses every write to an archived repository, so unarchiving comes first.

Visibility is only ever narrowed: a repository declared private that was made public is
made private again, but one declared public that someone made private stays private —
publishing code is a person's decision, not a remediation's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from prefect import task

from tasks.github import BranchProtection, ensure_branch_protection, github_client, github_errors
from tasks.github_lifecycle import archive_repository
from tasks.logs import task_logger
from tasks.retries import PROVIDER_TASK_OPTIONS

if TYPE_CHECKING:
    from blocks.github import GitHubOrganization

__all__ = ["restore_repository", "restore_repository_task"]

OPERATION = "restore repository"


def restore_repository(
    block: GitHubOrganization, *, full_name: str, declared: Mapping[str, Any]
) -> list[str]:
    """Restore the audited settings `declared` (the registry's spec of `full_name`) names:
    `archived` (unarchived unless declared archived), `private`, `default_branch`, `topics`
    (exactly those) and `branch_protection` of the default branch. Returns what changed,
    for people and the journal; empty when the repository was already as declared."""
    logger = task_logger()
    if declared.get("archived") is True:
        # A repository declared archived is read-only: archiving it is all there is to do.
        return ["archived"] if archive_repository.fn(block, full_name=full_name) else []
    changes: list[str] = []
    with github_errors(OPERATION, full_name), github_client(block) as client:
        repo = client.get_repo(full_name)
        if repo.archived:
            repo.edit(archived=False)
            changes.append("unarchived")
        if declared.get("private") is True and not repo.private:
            repo.edit(private=True)
            changes.append("made private")
        elif declared.get("private") is False and repo.private:
            # Publishing code is a decision for people, not for an audit.
            changes.append("not restored: declared public but private; left private")
        wanted_branch = declared.get("default_branch")
        if wanted_branch and repo.default_branch != wanted_branch:
            changes.append(f"default branch {repo.default_branch} -> {wanted_branch}")
            repo.edit(default_branch=wanted_branch)
        if "topics" in declared:
            current = sorted(repo.get_topics())
            wanted = sorted(set(declared["topics"]))
            if current != wanted:
                repo.replace_topics(wanted)
                changes.append(
                    f"topics set to {', '.join(wanted) or '(none)'} "
                    f"(were {', '.join(current) or 'none'})"
                )
        branch = wanted_branch or repo.default_branch
    if declared.get("branch_protection") is not None:
        protection = BranchProtection.model_validate(declared["branch_protection"])
        if ensure_branch_protection.fn(
            block, full_name=full_name, branch=branch, protection=protection
        ):
            changes.append(f"branch protection of {branch} restored")
    for change in changes:
        logger.info("%s: %s", full_name, change)
    return changes


restore_repository_task = task(name="github: restore repository", **PROVIDER_TASK_OPTIONS)(
    restore_repository
)
