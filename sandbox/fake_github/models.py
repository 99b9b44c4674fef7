"""The objects of the fake's world: accounts, teams and repositories.

They are plain mutable records owned by `GitHubState`, which holds its lock around every
change; nothing here locks.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandbox.fake_github.protection import BranchProtection

ORGANIZATION = "Organization"
USER = "User"

# Team permissions GitHub accepts, weakest first, and what each one grants.
PERMISSIONS = ("pull", "triage", "push", "maintain", "admin")
ROLE_NAMES = {
    "pull": "read",
    "triage": "triage",
    "push": "write",
    "maintain": "maintain",
    "admin": "admin",
}

# Repository settings the create and edit calls accept, with GitHub's defaults.
REPOSITORY_SETTING_DEFAULTS: dict[str, Any] = {
    "has_issues": True,
    "has_projects": True,
    "has_wiki": True,
    "has_downloads": True,
    "has_discussions": False,
    "allow_squash_merge": True,
    "allow_merge_commit": True,
    "allow_rebase_merge": True,
    "allow_auto_merge": False,
    "delete_branch_on_merge": False,
    "allow_update_branch": False,
    "use_squash_pr_title_as_default": False,
    "squash_merge_commit_title": "COMMIT_OR_PR_TITLE",
    "squash_merge_commit_message": "COMMIT_MESSAGES",
    "merge_commit_title": "MERGE_MESSAGE",
    "merge_commit_message": "PR_TITLE",
    "allow_forking": False,
    "web_commit_signoff_required": False,
}


def utc_now() -> str:
    """The current time as GitHub writes it: ISO 8601, UTC, whole seconds."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_id(kind: str, number: int) -> str:
    """A GraphQL-style node id (opaque, stable per object)."""
    return base64.b64encode(f"0:{kind}{number}".encode()).decode().rstrip("=")


def permission_flags(permission: str) -> dict[str, bool]:
    """GitHub's `permissions` object for a permission level (each level implies the weaker)."""
    rank = PERMISSIONS.index(permission)
    return {
        level: PERMISSIONS.index(level) <= rank
        for level in ("admin", "maintain", "push", "triage", "pull")
    }


@dataclass
class User:
    """A GitHub user (a person, or the bot whose token Paved uses)."""

    id: int
    login: str
    name: str | None
    email: str | None
    created_at: str
    type: str = USER


@dataclass
class Organization:
    """A GitHub organization and the logins of its members."""

    id: int
    login: str
    name: str | None
    created_at: str
    members: set[str] = field(default_factory=set)
    type: str = ORGANIZATION


@dataclass
class Team:
    """A team of an organization: its members' roles and its repository permissions."""

    id: int
    organization: str
    slug: str
    name: str
    description: str | None
    created_at: str
    updated_at: str
    privacy: str = "closed"
    members: dict[str, str] = field(default_factory=dict)  # login -> "member" | "maintainer"
    repositories: dict[int, str] = field(default_factory=dict)  # repository id -> permission


@dataclass
class Environment:
    """A deployment environment of a repository and its protection rules.

    `reviewers` are ("Team" | "User", id) pairs; `branch_policy` is
    (protected_branches, custom_branch_policies), or None when every branch may deploy.
    `rule_ids` keeps one stable id per protection rule type, as GitHub does.
    """

    id: int
    name: str
    created_at: str
    updated_at: str
    wait_timer: int = 0
    prevent_self_review: bool = False
    reviewers: list[tuple[str, int]] = field(default_factory=list)
    branch_policy: tuple[bool, bool] | None = None
    rule_ids: dict[str, int] = field(default_factory=dict)


@dataclass
class Repository:
    """A repository: settings, branches (name -> head commit sha), protections, topics,
    deployment environments (by lowercased name) and direct collaborators (login ->
    permission)."""

    id: int
    owner: str
    name: str
    description: str | None
    homepage: str | None
    visibility: str
    created_at: str
    updated_at: str
    pushed_at: str
    settings: dict[str, Any] = field(default_factory=lambda: dict(REPOSITORY_SETTING_DEFAULTS))
    is_template: bool = False
    archived: bool = False
    default_branch: str = "main"
    branches: dict[str, str] = field(default_factory=dict)
    protections: dict[str, BranchProtection] = field(default_factory=dict)
    topics: list[str] = field(default_factory=list)
    template_id: int | None = None
    environments: dict[str, Environment] = field(default_factory=dict)
    collaborators: dict[str, str] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        """`owner/name`."""
        return f"{self.owner}/{self.name}"

    @property
    def private(self) -> bool:
        """Whether the repository is private."""
        return self.visibility != "public"

    @property
    def is_empty(self) -> bool:
        """Whether nothing was ever committed (GitHub's state right after a bare create)."""
        return not self.branches
