"""The GitHub side of the drift audit against Paved's fake GitHub: listing every repository
in one GraphQL call per 100, drift made behind Paved's back through REST, throttling
waited out, and restoring what the registry declares."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from github import Github
from github.Repository import Repository
from prefect.logging import disable_run_logger
from pydantic import SecretStr

from blocks import GitHubOrganization
from sandbox.fake_github import FakeGitHubControl, ServerHandle
from tasks.audit import Observed
from tasks.audit.github_inventory import MAX_ATTEMPTS, github_inventory, list_repositories
from tasks.audit.github_remediate import restore_repository
from tasks.errors import PermanentProviderError, TransientProviderError
from tasks.github import (
    BranchProtection,
    ensure_branch_protection,
    ensure_repository_from_template,
    ensure_topics,
)

SECONDARY_LIMIT = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)


@pytest.fixture
def block(server: ServerHandle, control: FakeGitHubControl) -> Iterator[GitHubOrganization]:
    """The organization block pointing at the fake, unpaced (its pacing protects github.com)."""
    with disable_run_logger():
        yield GitHubOrganization(
            api_url=server.url,
            organization="acme",
            token=SecretStr("test-token"),
            seconds_between_requests=0,
            seconds_between_writes=0,
        )


def declared_spec(team: str = "payments") -> dict[str, Any]:
    """A repository's spec as github:repo:create declares it in the registry."""
    return {
        "template": "acme/service-template",
        "private": True,
        "topics": ["paved", team],
        "codeowners": f"@acme/{team}",
        "default_branch": "main",
        "branch_protection": BranchProtection().model_dump(),
        "team_permission": {team: "push"},
    }


def provision(block: GitHubOrganization, name: str) -> str:
    """A repository made as github:repo:create makes one; its full name."""
    spec = declared_spec()
    repo = ensure_repository_from_template.fn(
        block, name=name, description="A service", private=True, template="service-template"
    )
    ensure_topics.fn(block, full_name=repo.full_name, topics=spec["topics"])
    ensure_branch_protection.fn(
        block, full_name=repo.full_name, branch="main", protection=BranchProtection()
    )
    return repo.full_name


def observed(block: GitHubOrganization, full_name: str) -> Observed:
    inventory = list_repositories(block)
    return next(item for item in inventory.resources if item.external_id == full_name)


def graphql_calls(control: FakeGitHubControl) -> list[dict[str, Any]]:
    return [entry for entry in control.requests() if entry["path"] == "/graphql"]


# -- listing --------------------------------------------------------------------------------


def test_230_repositories_cost_3_calls(
    block: GitHubOrganization, server: ServerHandle, control: FakeGitHubControl
) -> None:
    for number in range(229):
        server.state.create_repository("acme", f"svc-{number:03d}", auto_init=True)
    oldest_first = [repo.full_name for repo in server.state.list_repositories("acme")]
    assert len(oldest_first) == 230  # with the seed's template
    control.clear_requests()

    inventory = list_repositories(block)

    assert inventory.provider == "github" and inventory.kinds == ["github_repository"]
    assert [item.external_id for item in inventory.resources] == oldest_first
    assert inventory.calls == math.ceil(230 / 100) == 3
    assert len(control.requests()) == 3 and len(graphql_calls(control)) == 3
    assert inventory.calls <= len(inventory.resources) / 50
    assert inventory.notes == []


def test_smaller_pages_cost_more_calls(block: GitHubOrganization, server: ServerHandle) -> None:
    for number in range(9):
        server.state.create_repository("acme", f"svc-{number}", auto_init=True)
    inventory = list_repositories(block, page_size=4)
    assert len(inventory.resources) == 10
    assert inventory.calls == 3


@pytest.mark.parametrize("page_size", [0, 101])
def test_page_size_is_within_githubs_bounds(block: GitHubOrganization, page_size: int) -> None:
    with pytest.raises(ValueError, match="page_size"):
        list_repositories(block, page_size=page_size)


def test_a_repository_is_observed_under_the_registrys_spec_keys(
    block: GitHubOrganization,
) -> None:
    full_name = provision(block, "orders")
    item = observed(block, full_name)
    assert item.provider == "github" and item.kind == "github_repository"
    assert (item.external_id, item.name, item.tags) == ("acme/orders", "orders", None)
    spec = declared_spec()
    assert item.settings == {
        "private": spec["private"],
        "archived": False,
        "topics": sorted(spec["topics"]),
        "default_branch": spec["default_branch"],
        "branch_protection": spec["branch_protection"],
    }


def test_the_prefect_task_wraps_the_same_listing(block: GitHubOrganization) -> None:
    assert github_inventory.name == "github: list repositories for audit"
    assert github_inventory.fn(block).resources == list_repositories(block).resources


def test_drift_made_through_rest_shows_in_the_inventory(
    block: GitHubOrganization, gh: Github
) -> None:
    full_name = provision(block, "orders")
    repo = gh.get_repo(full_name)
    repo.get_branch("main").remove_protection()
    repo.replace_topics(["paved", "shadow-it"])
    repo.edit(private=False)
    repo.edit(archived=True)

    settings = observed(block, full_name).settings
    assert settings["branch_protection"] is None
    assert settings["archived"] is True
    assert settings["private"] is False
    assert settings["topics"] == ["paved", "shadow-it"]


def test_weakened_protection_shows_what_github_enforces(
    block: GitHubOrganization, gh: Github
) -> None:
    full_name = provision(block, "orders")
    gh.get_repo(full_name).get_branch("main").edit_protection(enforce_admins=False)
    assert observed(block, full_name).settings["branch_protection"] == {
        "required_approving_review_count": 0,
        "require_code_owner_reviews": False,
        "dismiss_stale_reviews": False,
        "enforce_admins": False,
    }


def test_an_empty_repository_has_no_default_branch(block: GitHubOrganization, gh: Github) -> None:
    gh.get_organization("acme").create_repo("bare")
    settings = observed(block, "acme/bare").settings
    assert settings["default_branch"] is None and settings["branch_protection"] is None


# -- throttling and failures ----------------------------------------------------------------


RETRIED_ANSWERS: dict[str, Callable[[], dict[str, Any]]] = {
    "secondary rate limit": lambda: {
        "status": 403,
        "message": SECONDARY_LIMIT,
        "headers": {"retry-after": "1"},
    },
    "primary rate limit, 403": lambda: {
        "status": 403,
        "message": "API rate limit exceeded for user ID 1.",
        "headers": {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(time.time()) + 1)},
    },
    "primary rate limit, 429": lambda: {
        "status": 429,
        "headers": {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(time.time()) + 1)},
    },
    "graphql rate limit": lambda: {"status": 200, "headers": {"x-ratelimit-remaining": "0"}},
    "server error": lambda: {"status": 502},
    "dropped connection": lambda: {"drop": True},
}


@pytest.mark.parametrize("answer", sorted(RETRIED_ANSWERS))
def test_throttling_and_outages_are_waited_out(
    answer: str, block: GitHubOrganization, server: ServerHandle, control: FakeGitHubControl
) -> None:
    for number in range(150):
        server.state.create_repository("acme", f"svc-{number:03d}")
    listed = list_repositories(block)
    control.clear_requests()
    # The next two attempts are refused (or cut off) before GitHub answers.
    control.add_fault("/graphql", method="POST", times=2, **RETRIED_ANSWERS[answer]())
    inventory = list_repositories(block)

    assert inventory.resources == listed.resources
    assert inventory.calls == listed.calls + 2
    journal = graphql_calls(control)
    assert len(journal) == inventory.calls
    fault = "drop" if answer == "dropped connection" else "status"
    assert [entry["fault"] for entry in journal] == [fault, fault] + [None] * listed.calls
    assert control.faults() == []


def test_throttling_that_does_not_pass_is_transient(
    block: GitHubOrganization, control: FakeGitHubControl
) -> None:
    control.add_fault(
        "/graphql",
        status=403,
        message=SECONDARY_LIMIT,
        headers={"retry-after": "1"},
        times=MAX_ATTEMPTS,
    )
    with pytest.raises(TransientProviderError, match="rate limited"):
        list_repositories(block)
    assert len(graphql_calls(control)) == MAX_ATTEMPTS


@pytest.mark.parametrize(
    ("status", "message"),
    [(401, "Bad credentials"), (403, "Resource not accessible by integration"), (404, None)],
)
def test_refusals_fail_at_once(
    block: GitHubOrganization, control: FakeGitHubControl, status: int, message: str | None
) -> None:
    control.add_fault("/graphql", status=status, message=message)
    with pytest.raises(PermanentProviderError, match=f"HTTP {status}"):
        list_repositories(block)
    assert len(graphql_calls(control)) == 1


def test_an_unknown_organization_fails_at_once(
    block: GitHubOrganization, control: FakeGitHubControl
) -> None:
    elsewhere = block.model_copy(update={"organization": "nobody"})
    with pytest.raises(PermanentProviderError, match="Could not resolve to an Organization"):
        list_repositories(elsewhere)
    assert len(graphql_calls(control)) == 1


# -- remediation ----------------------------------------------------------------------------


DRIFTS: dict[str, tuple[Callable[[Repository], object], str]] = {
    "archived": (lambda repo: repo.edit(archived=True), "unarchived"),
    "made public": (lambda repo: repo.edit(private=False), "made private"),
    "topics replaced": (
        lambda repo: repo.replace_topics(["shadow-it"]),
        "topics set to paved, payments (were shadow-it)",
    ),
    "topics removed": (
        lambda repo: repo.replace_topics([]),
        "topics set to paved, payments (were none)",
    ),
    "protection removed": (
        lambda repo: repo.get_branch("main").remove_protection(),
        "branch protection of main restored",
    ),
    "protection weakened": (
        lambda repo: repo.get_branch("main").edit_protection(
            required_approving_review_count=1, enforce_admins=False
        ),
        "branch protection of main restored",
    ),
}


@pytest.mark.parametrize("drift", sorted(DRIFTS))
def test_restore_undoes_one_drift_and_then_changes_nothing(
    drift: str, block: GitHubOrganization, gh: Github, control: FakeGitHubControl
) -> None:
    full_name = provision(block, "orders")
    as_provisioned = observed(block, full_name).settings
    make_drift, change = DRIFTS[drift]
    make_drift(gh.get_repo(full_name))
    assert observed(block, full_name).settings != as_provisioned

    assert restore_repository(block, full_name=full_name, declared=declared_spec()) == [change]
    assert observed(block, full_name).settings == as_provisioned

    control.clear_requests()
    assert restore_repository(block, full_name=full_name, declared=declared_spec()) == []
    assert control.requests(writes_only=True) == []


def test_restore_undoes_every_drift_at_once(
    block: GitHubOrganization, gh: Github, control: FakeGitHubControl
) -> None:
    full_name = provision(block, "orders")
    as_provisioned = observed(block, full_name).settings
    repo = gh.get_repo(full_name)
    for make_drift, _ in DRIFTS.values():
        if repo.archived:
            repo.edit(archived=False)
        make_drift(repo)
    repo.edit(archived=True)  # last, since GitHub refuses writes to an archived repository

    changes = restore_repository(block, full_name=full_name, declared=declared_spec())

    assert changes[0] == "unarchived"  # first: nothing else could be written before it
    assert changes == [
        "unarchived",
        "made private",
        "topics set to paved, payments (were none)",
        "branch protection of main restored",
    ]
    assert observed(block, full_name).settings == as_provisioned


def test_restore_never_makes_a_repository_public(
    block: GitHubOrganization, gh: Github, control: FakeGitHubControl
) -> None:
    full_name = provision(block, "orders")
    declared = {**declared_spec(), "private": False}
    # Said, so the audit keeps the finding open for a person to decide.
    assert restore_repository(block, full_name=full_name, declared=declared) == [
        "not restored: declared public but private; left private"
    ]
    assert gh.get_repo(full_name).private is True


def test_restore_moves_the_default_branch_back(
    block: GitHubOrganization, gh: Github, server: ServerHandle
) -> None:
    full_name = provision(block, "orders")
    # The fake serves no ref creation: the branch is added to its world directly.
    with server.state.lock:
        stored = server.state.get_repository("acme", "orders")
        stored.branches["develop"] = stored.branches["main"]
    gh.get_repo(full_name).edit(default_branch="develop")
    assert observed(block, full_name).settings["default_branch"] == "develop"

    changes = restore_repository(block, full_name=full_name, declared=declared_spec())

    assert changes == ["default branch develop -> main"]
    assert observed(block, full_name).settings["default_branch"] == "main"


def test_a_repository_declared_archived_is_only_archived(
    block: GitHubOrganization, gh: Github
) -> None:
    full_name = provision(block, "orders")
    declared = {**declared_spec(), "archived": True, "topics": ["other"]}
    assert restore_repository(block, full_name=full_name, declared=declared) == ["archived"]
    assert restore_repository(block, full_name=full_name, declared=declared) == []
    settings = observed(block, full_name).settings
    assert settings["archived"] is True and settings["topics"] == ["paved", "payments"]
