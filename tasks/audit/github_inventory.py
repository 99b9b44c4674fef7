"""The GitHub side of the drift audit: every repository of the organization in one
GraphQL query per page of up to 100 repositories.

The REST API would take one call per repository for its branch protection alone, which
breaks the audit's budget of one call per 50 resources; GitHub's GraphQL API returns
visibility, archival, topics, default branch and that branch's protection rule with the
repository list. The query asks the default branch's ref for its `branchProtectionRule`
rather than listing the repository's rules, so GitHub itself decides which rule (exact
name or wildcard pattern) protects the branch.

Throttling and GitHub being briefly unable to answer (5xx, dropped connections) are waited
out here, page by page, as GitHub asks: `retry-after` when given, else until
`x-ratelimit-reset` when the primary limit is spent, else a backoff. Each attempt counts in
`ProviderInventory.calls`. What retrying cannot fix (a bad token, an unknown organization,
a query GitHub refuses) fails at once through `github_errors`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import requests
from github import GithubException, RateLimitExceededException
from prefect import task

from tasks.audit import Observed, ProviderInventory
from tasks.errors import PermanentProviderError, TransientProviderError
from tasks.github import github_client, github_errors
from tasks.logs import task_logger
from tasks.retries import PROVIDER_TASK_OPTIONS, retry_delay_scale

if TYPE_CHECKING:
    from github.Requester import Requester

    from blocks.github import GitHubOrganization

__all__ = ["REPOSITORIES_QUERY", "github_inventory", "list_repositories"]

PROVIDER = "github"
KIND = "github_repository"
OPERATION = "list repositories"
MAX_PAGE_SIZE = 100
# GitHub allows a repository at most 20 topics, so one page of them is all of them.
MAX_TOPICS = 20

REPOSITORIES_QUERY = """
query PavedAuditRepositories($organization: String!, $pageSize: Int!, $after: String) {
  organization(login: $organization) {
    repositories(first: $pageSize, after: $after, orderBy: {field: CREATED_AT, direction: ASC}) {
      pageInfo {
        hasNextPage
        endCursor
      }
      nodes {
        name
        nameWithOwner
        visibility
        isPrivate
        isArchived
        repositoryTopics(first: 20) {
          totalCount
          nodes {
            topic {
              name
            }
          }
        }
        defaultBranchRef {
          name
          branchProtectionRule {
            pattern
            requiresApprovingReviews
            requiredApprovingReviewCount
            requiresCodeOwnerReviews
            dismissesStaleReviews
            isAdminEnforced
          }
        }
      }
    }
  }
}
"""

# Attempts per page before the task gives up (and Prefect's own retries take over).
MAX_ATTEMPTS = 6
# The primary limit resets hourly: waiting up to a quarter of an hour for it is cheaper
# than a failed audit; longer waits are cut to this and retried.
MAX_WAIT_SECONDS = 900.0
# Without `retry-after`, GitHub asks to wait at least a minute after a secondary limit.
SECONDARY_LIMIT_WAIT_SECONDS = 60.0
# GitHub's answers while it is briefly unable to serve.
SERVER_ERRORS = frozenset({500, 502, 503, 504})
# GraphQL-level refusals of an exhausted rate limit (GitHub has used both spellings).
RATE_LIMIT_ERROR_TYPES = frozenset({"RATE_LIMIT", "RATE_LIMITED"})


class _Retry(Exception):
    """An attempt worth repeating after `wait` seconds, and why."""

    def __init__(self, wait: float, reason: str) -> None:
        super().__init__(reason)
        self.wait = wait
        self.reason = reason


def _backoff(attempt: int) -> float:
    return float(min(2**attempt, SECONDARY_LIMIT_WAIT_SECONDS))


def _rate_limit_wait(headers: dict[str, Any], attempt: int, *, secondary: bool) -> float:
    """How long GitHub asks a throttled client to wait, from its headers."""
    retry_after = headers.get("retry-after")
    if retry_after is not None and str(retry_after).isdigit():
        return float(retry_after)
    if str(headers.get("x-ratelimit-remaining")) == "0":
        reset = headers.get("x-ratelimit-reset")
        if reset is not None and str(reset).isdigit():
            return max(float(reset) - time.time(), 0.0) + 1.0
    return SECONDARY_LIMIT_WAIT_SECONDS if secondary else _backoff(attempt)


def _is_rate_limited(exc: GithubException) -> bool:
    if isinstance(exc, RateLimitExceededException) or exc.status == 429:
        return True
    headers = exc.headers or {}
    return exc.status == 403 and (
        "retry-after" in headers or str(headers.get("x-ratelimit-remaining")) == "0"
    )


def _attempt(requester: Requester, variables: dict[str, Any], attempt: int) -> dict[str, Any]:
    """One POST of the query: its `data`, or `_Retry` when GitHub asks to come back later."""
    try:
        headers, body = requester.requestJsonAndCheck(
            "POST",
            requester.graphql_url,
            input={"query": REPOSITORIES_QUERY, "variables": variables},
        )
    except GithubException as exc:
        if _is_rate_limited(exc):
            wait = _rate_limit_wait(exc.headers or {}, attempt, secondary=exc.status == 403)
            raise _Retry(wait, f"rate limited (HTTP {exc.status})") from exc
        if exc.status in SERVER_ERRORS:
            raise _Retry(_backoff(attempt), f"HTTP {exc.status}") from exc
        raise
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise _Retry(_backoff(attempt), f"connection failed ({type(exc).__name__})") from exc
    errors = body.get("errors") if isinstance(body, dict) else None
    if errors:
        if any(error.get("type") in RATE_LIMIT_ERROR_TYPES for error in errors):
            raise _Retry(_rate_limit_wait(headers, attempt, secondary=False), "rate limited")
        raise PermanentProviderError(
            provider=PROVIDER,
            operation=OPERATION,
            resource=str(variables["organization"]),
            cause="; ".join(str(error.get("message", error)) for error in errors),
        )
    data: dict[str, Any] = body["data"]
    return data


class _Pager:
    """Sends the query page after page, retrying throttled and failed attempts."""

    def __init__(self, requester: Requester, organization: str) -> None:
        self.requester = requester
        self.organization = organization
        self.calls = 0

    def page(self, *, page_size: int, after: str | None) -> dict[str, Any]:
        """One page of `organization.repositories`, after as many attempts as it takes."""
        variables = {"organization": self.organization, "pageSize": page_size, "after": after}
        for attempt in range(1, MAX_ATTEMPTS + 1):
            self.calls += 1
            try:
                data = _attempt(self.requester, variables, attempt)
            except _Retry as retry:
                if attempt == MAX_ATTEMPTS:
                    raise TransientProviderError(
                        provider=PROVIDER,
                        operation=OPERATION,
                        resource=self.organization,
                        cause=f"{retry.reason}, {MAX_ATTEMPTS} attempts made",
                    ) from retry
                wait = min(retry.wait, MAX_WAIT_SECONDS) * retry_delay_scale()
                task_logger().warning(
                    "GitHub GraphQL: %s; retrying in %.1f s (attempt %d of %d)",
                    retry.reason,
                    wait,
                    attempt,
                    MAX_ATTEMPTS,
                )
                time.sleep(wait)
                continue
            if data.get("organization") is None:
                raise PermanentProviderError(
                    provider=PROVIDER,
                    operation=OPERATION,
                    resource=self.organization,
                    cause="no such organization",
                )
            repositories: dict[str, Any] = data["organization"]["repositories"]
            return repositories
        raise AssertionError("unreachable: the last attempt returns or raises")


def _branch_protection(rule: dict[str, Any] | None) -> dict[str, Any] | None:
    """A protection rule under the keys of the registry's declared `branch_protection`."""
    if rule is None:
        return None
    reviews_required = bool(rule["requiresApprovingReviews"])
    return {
        "required_approving_review_count": (
            int(rule["requiredApprovingReviewCount"] or 0) if reviews_required else 0
        ),
        "require_code_owner_reviews": bool(rule["requiresCodeOwnerReviews"]),
        "dismiss_stale_reviews": bool(rule["dismissesStaleReviews"]),
        "enforce_admins": bool(rule["isAdminEnforced"]),
    }


def _observed(node: dict[str, Any]) -> Observed:
    branch = node["defaultBranchRef"]
    return Observed(
        provider=PROVIDER,
        kind=KIND,
        external_id=node["nameWithOwner"],
        name=node["name"],
        tags=None,
        settings={
            "private": bool(node["isPrivate"]),
            "archived": bool(node["isArchived"]),
            "topics": sorted(
                topic["topic"]["name"] for topic in node["repositoryTopics"]["nodes"] if topic
            ),
            # None for a repository nothing was pushed to: it has no branch yet.
            "default_branch": branch["name"] if branch else None,
            "branch_protection": _branch_protection(branch["branchProtectionRule"])
            if branch
            else None,
        },
    )


def list_repositories(block: GitHubOrganization, *, page_size: int = 100) -> ProviderInventory:
    """Every repository of the block's organization, archived ones included, with the
    settings the audit compares: `private`, `archived`, `topics` (sorted), `default_branch`
    (None for an empty repository) and `branch_protection` (None when the default branch
    has no protection rule), one GraphQL call per `page_size` repositories (at most 100)."""
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, not {page_size}")
    organization = block.organization
    resources: list[Observed] = []
    notes: list[str] = []
    with github_errors(OPERATION, organization), github_client(block) as client:
        pager = _Pager(client.requester, organization)
        after: str | None = None
        while True:
            page = pager.page(page_size=page_size, after=after)
            for node in page["nodes"]:
                if node is None:
                    continue
                resources.append(_observed(node))
                if node["repositoryTopics"]["totalCount"] > MAX_TOPICS:
                    notes.append(f"{node['nameWithOwner']}: only {MAX_TOPICS} topics read")
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
    task_logger().info(
        "Listed %d repositories of %s in %d GraphQL calls",
        len(resources),
        organization,
        pager.calls,
    )
    return ProviderInventory(
        provider=PROVIDER, kinds=[KIND], resources=resources, calls=pager.calls, notes=notes
    )


github_inventory = task(name="github: list repositories for audit", **PROVIDER_TASK_OPTIONS)(
    list_repositories
)
