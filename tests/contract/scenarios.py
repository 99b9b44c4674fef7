"""What Paved does with GitHub, driven through PyGithub against the fake.

Each scenario starts from the seed and makes the calls a Paved flow would make, plus the
refusals it must cope with (duplicates, stale shas, bad topics, missing things). The
contract tests validate every call these make, request and answer, against GitHub's
OpenAPI description; a call is "made" when it reaches the fake's request journal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from github import Auth, Github, GithubException
from github.EnvironmentDeploymentBranchPolicy import EnvironmentDeploymentBranchPolicyParams
from github.EnvironmentProtectionRuleReviewer import ReviewerParams

from sandbox.fake_github import APP_TOKEN, FakeGitHubControl

Scenario = Callable[[Github], None]
"""A scenario gets a PyGithub client authenticated with a token, like Paved's."""

ORG = "acme"
TEMPLATE = "service-template"


@contextmanager
def refused_with(status: int) -> Iterator[None]:
    """Assert that the calls inside fail with GitHub status `status`."""
    try:
        yield
    except GithubException as error:
        assert error.status == status, f"expected {status}, got {error.status}: {error.data}"
    else:
        raise AssertionError(f"expected GitHub to refuse with {status}")


def _client(gh: Github, token: str | None) -> Github:
    return Github(
        base_url=gh.requester.base_url,
        auth=Auth.Token(token) if token is not None else None,
        retry=None,
        seconds_between_requests=None,
    )


def accounts(gh: Github) -> None:
    """Who am I (the bot, a person by their token), who is that, which organization; and
    no answer without a token or with a token nobody holds."""
    assert gh.get_user().login == "paved-bot"
    anonymous = _client(gh, None)
    with refused_with(401):
        anonymous.get_user().login  # noqa: B018
    anonymous.close()
    carol = _client(gh, FakeGitHubControl(gh.requester.base_url).token("carol"))
    me = carol.get_user()
    assert (me.login, me.name, me.email) == ("carol", "Carol Chen", "carol@acme.example")
    carol.close()
    stranger = _client(gh, "gho_" + "0" * 36)
    with refused_with(401):
        stranger.get_user().login  # noqa: B018
    stranger.close()
    assert gh.get_user("alice").name == "Alice Archer"
    assert gh.get_user(ORG).type == "Organization"
    assert gh.get_organization(ORG).name == "Acme Corp"
    with refused_with(404):
        gh.get_user("nobody-here")
    with refused_with(404):
        gh.get_organization("no-such-org").login  # noqa: B018 - the attribute triggers the call


def repositories(gh: Github) -> None:
    """Create, list (paged), read, edit, archive and delete repositories."""
    org = gh.get_organization(ORG)
    created = org.create_repo("orders", description="Order service", private=True, auto_init=True)
    assert created.private and created.default_branch == "main"
    org.create_repo("billing", visibility="public", has_wiki=False)
    org.create_repo("ledger")
    with refused_with(422):
        org.create_repo("orders")
    names = [repo.name for repo in org.get_repos(sort="full_name")]
    assert names == ["billing", "ledger", "orders", "service-template"], names
    repo = gh.get_repo(f"{ORG}/orders")
    repo.edit(description="Orders, owned by payments", has_issues=False, default_branch="main")
    repo.edit(archived=True)
    assert gh.get_repo(f"{ORG}/orders").archived
    with refused_with(403):
        repo.edit(description="read-only now")
    repo.edit(archived=False)
    with refused_with(422):
        repo.edit(default_branch="no-such-branch")
    gh.get_repo(f"{ORG}/ledger").delete()
    with refused_with(404):
        gh.get_repo(f"{ORG}/ledger").name  # noqa: B018
    with refused_with(404):
        gh.withLazy(True).get_repo(f"{ORG}/ledger").delete()


def template_generation(gh: Github) -> None:
    """A new service repository made from the golden-path template."""
    org = gh.get_organization(ORG)
    template = gh.get_repo(f"{ORG}/{TEMPLATE}")
    repo = org.create_repo_from_template(
        "payments-api", template, description="Payments API", private=True
    )
    assert repo.template_repository.full_name == f"{ORG}/{TEMPLATE}"
    with refused_with(422):
        org.create_repo_from_template("payments-api", template)


def contents(gh: Github) -> None:
    """Read files and directories, then create, update and delete a nested file."""
    repo = gh.get_organization(ORG).create_repo_from_template(
        "inventory", gh.get_repo(f"{ORG}/{TEMPLATE}")
    )
    assert b"golden path" in repo.get_contents("app/__main__.py").decoded_content  # type: ignore[union-attr]
    assert repo.get_contents("README.md", ref="main").path == "README.md"  # type: ignore[union-attr]
    root = repo.get_contents("")
    assert sorted(entry.path for entry in root) == ["Dockerfile", "README.md", "app"]  # type: ignore[union-attr]
    assert [entry.path for entry in repo.get_contents("app")] == ["app/__main__.py"]  # type: ignore[union-attr]
    created = repo.create_file(".github/workflows/ci.yml", "Add CI", "on: push\n")
    sha = created["content"].sha
    with refused_with(422):
        repo.create_file(".github/workflows/ci.yml", "Add CI again", "on: push\n")
    updated = repo.update_file(
        ".github/workflows/ci.yml", "Run on PRs", "on: [push, pull_request]\n", sha
    )
    with refused_with(409):
        repo.update_file(".github/workflows/ci.yml", "Stale", "on: pull_request\n", sha)
    with refused_with(409):
        repo.delete_file(".github/workflows/ci.yml", "Stale delete", sha)
    repo.delete_file(".github/workflows/ci.yml", "Remove CI", updated["content"].sha)
    with refused_with(404):
        repo.get_contents(".github/workflows/ci.yml")
    with refused_with(404):
        repo.get_contents("README.md", ref="no-such-branch")


def empty_repository_contents(gh: Github) -> None:
    """The first file of an empty repository creates its default branch."""
    repo = gh.get_organization(ORG).create_repo("scratch")
    with refused_with(404):
        repo.get_contents("README.md")
    repo.create_file("README.md", "First commit", "# scratch\n")
    assert [branch.name for branch in repo.get_branches()] == ["main"]


def commits(gh: Github) -> None:
    """List commits, newest first and paged, by file path (how a benchmark counts the writes
    of one workflow file), by branch or sha, by author and date; 404 for an unknown sha and
    409 for an empty repository."""
    repo = gh.get_organization(ORG).create_repo_from_template(
        "shipping", gh.get_repo(f"{ORG}/{TEMPLATE}")
    )
    workflow = ".github/workflows/deploy.yml"
    created = repo.create_file(workflow, "Add deploy", "on: push\n")
    repo.create_file("docs/notes.md", "Add notes", "notes\n")
    repo.update_file(workflow, "Deploy on tags", "on: [push, create]\n", created["content"].sha)
    messages = [commit.commit.message for commit in repo.get_commits()]
    assert messages[:3] == ["Deploy on tags", "Add notes", "Add deploy"], messages
    touched = [commit.commit.message for commit in repo.get_commits(path=workflow)]
    assert touched == ["Deploy on tags", "Add deploy"], touched
    head = repo.get_branch("main").commit.sha
    assert repo.get_commits(sha="main")[0].sha == head
    older = [commit.commit.message for commit in repo.get_commits(sha=created["commit"].sha)]
    assert older[0] == "Add deploy", older
    by_bot = list(repo.get_commits(author="paved-bot"))
    assert len(by_bot) == len(messages) and by_bot[0].author.login == "paved-bot"
    assert list(repo.get_commits(author="alice")) == []
    assert list(repo.get_commits(until=datetime(2000, 1, 1, tzinfo=UTC))) == []
    with refused_with(404):
        list(repo.get_commits(sha="no-such-branch"))
    empty = gh.get_organization(ORG).create_repo("blank")
    with refused_with(409):
        list(empty.get_commits())


def topics(gh: Github) -> None:
    """Replace and read topics; GitHub's naming rules refuse the rest."""
    repo = gh.get_repo(f"{ORG}/{TEMPLATE}")
    repo.replace_topics(["golden-path", "python", "python"])
    assert repo.get_topics() == ["golden-path", "python"]
    with refused_with(422):
        repo.replace_topics(["Not A Topic"])
    with refused_with(404):
        gh.withLazy(True).get_repo(f"{ORG}/missing").get_topics()


def branch_protection(gh: Github) -> None:
    """Protect the default branch the way Paved does, read it back, remove it."""
    repo = gh.get_repo(f"{ORG}/{TEMPLATE}")
    assert [branch.name for branch in repo.get_branches()] == ["main"]
    branch = repo.get_branch("main")
    assert not branch.protected
    with refused_with(404):
        branch.get_protection()
    branch.edit_protection(
        strict=True,
        contexts=["ci/build"],
        enforce_admins=True,
        dismiss_stale_reviews=True,
        require_code_owner_reviews=True,
        required_approving_review_count=2,
        user_push_restrictions=["alice"],
        team_push_restrictions=["platform"],
        dismissal_users=["bob"],
        dismissal_teams=["platform"],
    )
    protection = repo.get_branch("main").get_protection()
    assert protection.required_pull_request_reviews.required_approving_review_count == 2
    push_users = protection.get_user_push_restrictions()
    push_teams = protection.get_team_push_restrictions()
    assert push_users is not None and [user.login for user in push_users] == ["alice"]
    assert push_teams is not None and [team.slug for team in push_teams] == ["platform"]
    branch.edit_protection(required_approving_review_count=1, checks=[("ci/test", 15368)])
    with refused_with(422):
        branch.edit_protection(required_approving_review_count=7)
    with refused_with(404):
        repo.get_branch("no-such-branch")
    branch.remove_protection()
    assert not repo.get_branch("main").protected


def teams(gh: Github) -> None:
    """Team lookups, memberships and repository permissions, as the access flows use them."""
    org = gh.get_organization(ORG)
    assert [team.slug for team in org.get_teams()] == ["payments", "platform"]
    members = [member.login for member in org.get_members()]
    assert members == ["alice", "bob", "carol", "dave", "erin", "paved-bot"], members
    assert [member.login for member in org.get_members(role="admin")] == ["paved-bot"]
    team = org.get_team_by_slug("payments")
    assert team.members_count == 2
    assert sorted(member.login for member in team.get_members()) == ["carol", "dave"]
    assert [member.login for member in team.get_members(role="maintainer")] == ["carol"]
    assert [member.login for member in team.get_members(role="member")] == ["dave"]
    erin = gh.get_user("erin")
    team.add_membership(erin, "maintainer")
    assert team.get_team_membership("erin").role == "maintainer"
    team.remove_membership(erin)
    with refused_with(404):
        team.get_team_membership("erin")
    with refused_with(404):
        org.get_team_by_slug("no-such-team").name  # noqa: B018
    repo = gh.get_repo(f"{ORG}/{TEMPLATE}")
    assert team.update_team_repository(repo, "push")
    permissions = team.get_repo_permission(repo)
    assert permissions is not None and permissions.push and not permissions.admin
    assert team.has_in_repos(repo)
    assert [listed.full_name for listed in team.get_repos()] == [f"{ORG}/{TEMPLATE}"]
    team.remove_from_repos(repo)
    assert team.get_repo_permission(repo) is None
    assert not team.has_in_repos(repo)
    assert not team.update_team_repository(repo, "superuser")


def collaborators(gh: Github) -> None:
    """Direct grants, as access:grant makes them: add, read the permission, change, remove."""
    repo = gh.get_repo(f"{ORG}/{TEMPLATE}")
    assert not repo.has_in_collaborators("erin")
    assert repo.get_collaborator_permission("erin") == "none"
    assert repo.add_to_collaborators("erin", "triage") is None  # 204: added at once
    assert repo.has_in_collaborators("erin")
    assert repo.get_collaborator_permission("erin") == "read"
    assert repo.get_collaborator_role_name("erin") == "triage"
    repo.add_to_collaborators("erin", "maintain")
    assert repo.get_collaborator_role_name("erin") == "maintain"
    gh.get_organization(ORG).get_team_by_slug("payments").update_team_repository(repo, "push")
    assert [user.login for user in repo.get_collaborators(affiliation="direct")] == ["erin"]
    everyone = {user.login: user.role_name for user in repo.get_collaborators()}
    assert everyone == {"paved-bot": "admin", "carol": "write", "dave": "write", "erin": "maintain"}
    assert [user.login for user in repo.get_collaborators(permission="push")] == ["carol", "dave"]
    with refused_with(422):
        repo.add_to_collaborators("erin", "superuser")
    with refused_with(404):
        repo.get_collaborator_permission("nobody-here")
    repo.remove_from_collaborators("erin")
    assert not repo.has_in_collaborators("erin")
    assert repo.has_in_collaborators("dave")  # through the team


def environments(gh: Github) -> None:
    """Deployment environments as github:pipeline:create makes them, read back and deleted."""
    repo = gh.get_repo(f"{ORG}/{TEMPLATE}")
    team = gh.get_organization(ORG).get_team_by_slug("payments")
    with refused_with(422):  # reviewers need access to the repository
        repo.create_environment("production", reviewers=[ReviewerParams("Team", team.id)])
    team.update_team_repository(repo, "maintain")
    carol = gh.get_user("carol")
    created = repo.create_environment(
        "production",
        wait_timer=5,
        reviewers=[ReviewerParams("Team", team.id), ReviewerParams("User", carol.id)],
        prevent_self_review=True,
        deployment_branch_policy=EnvironmentDeploymentBranchPolicyParams(protected_branches=True),
    )
    assert created.name == "production"
    repo.create_environment("staging")
    repo.create_environment("qa")
    production = repo.get_environment("production")
    rules = {rule.type: rule for rule in production.protection_rules}
    assert sorted(rules) == ["branch_policy", "required_reviewers", "wait_timer"]
    reviewers = rules["required_reviewers"].reviewers
    assert [reviewer.type for reviewer in reviewers] == ["Team", "User"]
    assert reviewers[0].reviewer.slug == "payments"  # type: ignore[union-attr]
    assert production.deployment_branch_policy.protected_branches
    assert [env.name for env in repo.get_environments()] == ["production", "qa", "staging"]
    with refused_with(422):
        repo.create_environment("qa", wait_timer=50_000)
    repo.delete_environment("qa")
    with refused_with(404):
        repo.get_environment("qa").name  # noqa: B018
    with refused_with(404):
        repo.delete_environment("qa")


SCENARIOS: dict[str, Scenario] = {
    scenario.__name__: scenario
    for scenario in (
        accounts,
        repositories,
        template_generation,
        contents,
        empty_repository_contents,
        commits,
        topics,
        branch_protection,
        teams,
        collaborators,
        environments,
    )
}


def pygithub_client(base_url: str, *, per_page: int = 30) -> Github:
    """PyGithub as Paved uses it, minus retries and pacing (the fake needs neither)."""
    return Github(
        base_url=base_url,
        auth=Auth.Token(APP_TOKEN),
        retry=None,
        per_page=per_page,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )


def run_scenarios(base_url: str) -> dict[str, list[dict[str, object]]]:
    """Run every scenario from a fresh seed; return each one's journal of API calls."""
    journals: dict[str, list[dict[str, object]]] = {}
    control = FakeGitHubControl(base_url)
    for name, scenario in SCENARIOS.items():
        control.reset()
        # Small pages, so listing calls follow `Link` headers like they do at scale.
        gh = pygithub_client(base_url, per_page=2)
        try:
            scenario(gh)
        finally:
            gh.close()
        journals[name] = control.requests()
    return journals
