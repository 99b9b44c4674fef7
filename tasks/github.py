"""GitHub tasks: small, idempotent get-or-create calls through PyGithub.

Each task builds its client from the GitHubOrganization block, converts PyGithub and
`requests` failures into tasks.errors (transient or permanent, by class) and returns a
typed result. Re-running a task against a repository that is already right changes
nothing: every write is preceded by a read of the current value.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import requests
from github import GithubException, RateLimitExceededException, UnknownObjectException
from prefect import task
from pydantic import BaseModel, Field

from tasks.errors import PermanentProviderError, ProviderError, TransientProviderError
from tasks.logs import task_logger
from tasks.retries import PROVIDER_TASK_OPTIONS

if TYPE_CHECKING:
    from github import Github
    from github.Organization import Organization
    from github.Repository import Repository

    from blocks.github import GitHubOrganization

__all__ = [
    "BranchProtection",
    "RepositoryInfo",
    "ensure_branch_protection",
    "ensure_file",
    "ensure_repository_from_template",
    "ensure_team_permission",
    "ensure_topics",
    "find_repository",
    "github_client",
    "github_errors",
]

PROVIDER = "github"
# GitHub answers these while it is briefly unable to serve, or is throttling us.
_TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


class RepositoryInfo(BaseModel):
    """What Paved keeps about a repository it made or found."""

    full_name: str = Field(description="owner/name.")
    html_url: str = Field(description="Link for people.")
    api_url: str = Field(description="Link for the API.")
    default_branch: str = Field(description="The branch Paved protects.")
    private: bool = Field(description="Whether the repository is private.")
    created: bool = Field(description="True when this call created it, False when it existed.")
    topics: list[str] = Field(
        default_factory=list,
        description="Its topics (what GitHub has for tags), when read: `find_repository`.",
    )


class BranchProtection(BaseModel):
    """The protection Paved requires on a service's default branch."""

    required_approving_review_count: int = Field(default=1, ge=1, le=6)
    require_code_owner_reviews: bool = True
    dismiss_stale_reviews: bool = True
    enforce_admins: bool = True


def _message(exc: GithubException) -> str:
    data = exc.data if isinstance(exc.data, dict) else {}
    message = str(data.get("message") or exc.message or "no message")
    errors = data.get("errors")
    if isinstance(errors, list) and errors:
        details = "; ".join(
            str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors
        )
        message = f"{message} ({details})"
    return f"HTTP {exc.status}: {message}"


@contextmanager
def github_errors(operation: str, resource: str) -> Iterator[None]:
    """Turn PyGithub and transport failures into Transient or PermanentProviderError."""
    try:
        yield
    except ProviderError:
        raise
    except RateLimitExceededException as exc:
        raise TransientProviderError(
            provider=PROVIDER, operation=operation, resource=resource, cause=_message(exc)
        ) from exc
    except GithubException as exc:
        error_class = (
            TransientProviderError if exc.status in _TRANSIENT_STATUSES else PermanentProviderError
        )
        raise error_class(
            provider=PROVIDER, operation=operation, resource=resource, cause=_message(exc)
        ) from exc
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise TransientProviderError(
            provider=PROVIDER,
            operation=operation,
            resource=resource,
            cause=f"connection failed ({type(exc).__name__})",
        ) from exc


@contextmanager
def github_client(block: GitHubOrganization) -> Iterator[Github]:
    """A client for one task, closed afterwards so a long-lived worker leaks no sockets."""
    client = block.get_client()
    try:
        yield client
    finally:
        client.close()


def _info(repo: Repository, *, created: bool) -> RepositoryInfo:
    return RepositoryInfo(
        full_name=repo.full_name,
        html_url=repo.html_url,
        api_url=repo.url,
        default_branch=repo.default_branch,
        private=repo.private,
        created=created,
    )


def _get_repo(org: Organization, name: str) -> Repository | None:
    try:
        return org.get_repo(name)
    except UnknownObjectException:
        return None


@task(name="github: find repository", **PROVIDER_TASK_OPTIONS)
def find_repository(block: GitHubOrganization, *, name: str) -> RepositoryInfo | None:
    """The repository `name` in the organization, or None when it does not exist."""
    full_name = f"{block.organization}/{name}"
    with github_errors("get repository", full_name), github_client(block) as client:
        repo = _get_repo(client.get_organization(block.organization), name)
        if repo is None:
            return None
        return _info(repo, created=False).model_copy(update={"topics": repo.get_topics()})


@task(name="github: create repository from template", **PROVIDER_TASK_OPTIONS)
def ensure_repository_from_template(
    block: GitHubOrganization,
    *,
    name: str,
    description: str,
    private: bool,
    template: str,
) -> RepositoryInfo:
    """Get or create `name` from the organization's `template` repository."""
    logger = task_logger()
    full_name = f"{block.organization}/{name}"
    with (
        github_errors("create repository from template", full_name),
        github_client(block) as client,
    ):
        org = client.get_organization(block.organization)
        existing = _get_repo(org, name)
        if existing is not None:
            logger.info("Repository %s exists already; leaving it as it is", full_name)
            return _info(existing, created=False)
        template_repo = _get_repo(org, template)
        if template_repo is None:
            raise PermanentProviderError(
                provider=PROVIDER,
                operation="create repository from template",
                resource=full_name,
                cause=f"template repository {block.organization}/{template} does not exist",
            )
        repo = org.create_repo_from_template(
            name, template_repo, description=description, private=private
        )
        logger.info("Created %s from %s", repo.html_url, template_repo.full_name)
        return _info(repo, created=True)


@task(name="github: set topics", **PROVIDER_TASK_OPTIONS)
def ensure_topics(block: GitHubOrganization, *, full_name: str, topics: list[str]) -> bool:
    """Make the repository carry at least `topics`; returns True when it changed them."""
    with github_errors("set topics", full_name), github_client(block) as client:
        repo = client.get_repo(full_name)
        current = repo.get_topics()
        wanted = sorted(set(current) | set(topics))
        if sorted(current) == wanted:
            return False
        repo.replace_topics(wanted)
        return True


@task(name="github: commit file", **PROVIDER_TASK_OPTIONS)
def ensure_file(
    block: GitHubOrganization, *, full_name: str, path: str, content: str, branch: str, message: str
) -> bool:
    """Make `path` on `branch` hold exactly `content`; returns True when it committed."""
    with github_errors(f"commit {path}", full_name), github_client(block) as client:
        repo = client.get_repo(full_name)
        try:
            current = repo.get_contents(path, ref=branch)
        except UnknownObjectException:
            repo.create_file(path, message, content, branch=branch)
            return True
        if isinstance(current, list):
            raise PermanentProviderError(
                provider=PROVIDER,
                operation=f"commit {path}",
                resource=full_name,
                cause=f"{path} is a directory",
            )
        if base64.b64decode(current.content or "").decode() == content:
            return False
        repo.update_file(path, message, content, current.sha, branch=branch)
        return True


@task(name="github: protect branch", **PROVIDER_TASK_OPTIONS)
def ensure_branch_protection(
    block: GitHubOrganization, *, full_name: str, branch: str, protection: BranchProtection
) -> bool:
    """Protect `branch` as `protection` says; returns True when it changed the protection."""
    with github_errors(f"protect branch {branch}", full_name), github_client(block) as client:
        repo = client.get_repo(full_name)
        try:
            target = repo.get_branch(branch)
        except UnknownObjectException as exc:
            # GitHub fills a repository generated from a template asynchronously: the
            # branch appears a moment after the repository does.
            raise TransientProviderError(
                provider=PROVIDER,
                operation=f"protect branch {branch}",
                resource=full_name,
                cause=f"branch {branch} does not exist yet",
            ) from exc
        if target.protected and _protection_matches(target, protection):
            return False
        target.edit_protection(
            enforce_admins=protection.enforce_admins,
            require_code_owner_reviews=protection.require_code_owner_reviews,
            required_approving_review_count=protection.required_approving_review_count,
            dismiss_stale_reviews=protection.dismiss_stale_reviews,
        )
        return True


def _protection_matches(branch: object, wanted: BranchProtection) -> bool:
    from github.Branch import Branch

    assert isinstance(branch, Branch)
    current = branch.get_protection()
    reviews = current.required_pull_request_reviews
    return (
        reviews is not None
        and reviews.require_code_owner_reviews == wanted.require_code_owner_reviews
        and reviews.required_approving_review_count == wanted.required_approving_review_count
        and reviews.dismiss_stale_reviews == wanted.dismiss_stale_reviews
        and current.enforce_admins == wanted.enforce_admins
    )


@task(name="github: grant team permission", **PROVIDER_TASK_OPTIONS)
def ensure_team_permission(
    block: GitHubOrganization, *, team: str, full_name: str, permission: str
) -> bool:
    """Give GitHub team `team` `permission` on the repository; True when it changed it."""
    with (
        github_errors(f"grant {permission} to team {team}", full_name),
        github_client(block) as client,
    ):
        org = client.get_organization(block.organization)
        gh_team = org.get_team_by_slug(team)
        repo = client.get_repo(full_name)
        current = gh_team.get_repo_permission(repo)
        if (
            current is not None
            and getattr(current, permission, False)
            and _highest(current) == permission
        ):
            return False
        gh_team.update_team_repository(repo, permission)
        return True


_PERMISSION_ORDER = ("admin", "maintain", "push", "triage", "pull")


def _highest(permissions: object) -> str | None:
    for name in _PERMISSION_ORDER:
        if getattr(permissions, name, False):
            return name
    return None


# -- deployment environments ------------------------------------------------------------------


class EnvironmentSpec(BaseModel):
    """A deployment environment as Paved wants it."""

    name: str = Field(description="Environment name, e.g. production.")
    reviewer_teams: list[str] = Field(
        default_factory=list, description="Slugs of teams whose approval a deploy needs."
    )
    reviewer_users: list[str] = Field(
        default_factory=list, description="Logins of people whose approval a deploy needs."
    )
    wait_timer: int = Field(default=0, ge=0, le=43_200, description="Minutes to wait first.")
    prevent_self_review: bool = Field(
        default=False, description="Whether whoever started the deploy may not approve it."
    )
    protected_branches_only: bool = Field(
        default=False, description="Whether only protected branches may deploy to it."
    )

    def model_post_init(self, __context: object) -> None:
        """GitHub lists at most six reviewers per environment."""
        if len(self.reviewer_teams) + len(self.reviewer_users) > 6:
            raise ValueError(f"environment {self.name}: GitHub allows at most 6 reviewers")


def _current_environment(repo: Repository, name: str) -> object | None:
    try:
        environment = repo.get_environment(name)
        environment.protection_rules  # noqa: B018 - completes the lazy object: 404 here
    except UnknownObjectException:
        return None
    return environment


def _environment_matches(
    environment: object, wanted: EnvironmentSpec, ids: set[tuple[str, int]]
) -> bool:
    from github.Environment import Environment

    assert isinstance(environment, Environment)
    reviewers: set[tuple[str, int]] = set()
    wait_timer = 0
    prevent_self_review = False
    for rule in environment.protection_rules or []:
        if rule.type == "required_reviewers":
            reviewers = {(reviewer.type, reviewer.reviewer.id) for reviewer in rule.reviewers}
            prevent_self_review = bool(rule.prevent_self_review)
        elif rule.type == "wait_timer":
            wait_timer = rule.wait_timer
    policy = environment.deployment_branch_policy
    protected_only = policy is not None and bool(policy.protected_branches)
    return (
        reviewers == ids
        and wait_timer == wanted.wait_timer
        and (prevent_self_review == wanted.prevent_self_review or not ids)
        and protected_only == wanted.protected_branches_only
        and (policy is None or not policy.custom_branch_policies)
    )


@task(name="github: ensure environment", **PROVIDER_TASK_OPTIONS)
def ensure_environment(block: GitHubOrganization, *, full_name: str, spec: EnvironmentSpec) -> bool:
    """Make deployment environment `spec.name` of the repository exactly `spec` (reviewers,
    wait timer, branch policy); returns True when it created or changed it."""
    from github.EnvironmentDeploymentBranchPolicy import EnvironmentDeploymentBranchPolicyParams
    from github.EnvironmentProtectionRuleReviewer import ReviewerParams

    operation = f"ensure environment {spec.name}"
    with github_errors(operation, full_name), github_client(block) as client:
        org = client.get_organization(block.organization)
        ids = {("Team", org.get_team_by_slug(slug).id) for slug in spec.reviewer_teams}
        ids |= {("User", client.get_user(login).id) for login in spec.reviewer_users}
        repo = client.get_repo(full_name)
        current = _current_environment(repo, spec.name)
        if current is not None and _environment_matches(current, spec, ids):
            return False
        # Teams first, then people, each in the order given: GitHub shows them so.
        ordered = [("Team", org.get_team_by_slug(slug).id) for slug in spec.reviewer_teams] + [
            ("User", client.get_user(login).id) for login in spec.reviewer_users
        ]
        repo.create_environment(
            spec.name,
            wait_timer=spec.wait_timer,
            reviewers=[ReviewerParams(kind, reviewer_id) for kind, reviewer_id in ordered],
            prevent_self_review=spec.prevent_self_review,
            deployment_branch_policy=(
                EnvironmentDeploymentBranchPolicyParams(protected_branches=True)
                if spec.protected_branches_only
                else None
            ),
        )
        task_logger().info(
            "%s environment %s of %s", "Updated" if current else "Created", spec.name, full_name
        )
        return True


@task(name="github: delete environment", **PROVIDER_TASK_OPTIONS)
def delete_environment(block: GitHubOrganization, *, full_name: str, name: str) -> bool:
    """Delete deployment environment `name`; False when there was none."""
    with github_errors(f"delete environment {name}", full_name), github_client(block) as client:
        try:
            client.get_repo(full_name).delete_environment(name)
        except UnknownObjectException:
            return False
        return True


__all__ += ["EnvironmentSpec", "delete_environment", "ensure_environment"]
