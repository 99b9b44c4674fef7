"""The fake's `GET /repos/{owner}/{repo}/commits`, driven through PyGithub's `get_commits`:
how a benchmark counts the commits that wrote one workflow file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from github import Github, GithubException, InputGitAuthor
from github.Repository import Repository

from sandbox.fake_github import APP_TOKEN, ServerHandle

WORKFLOW = ".github/workflows/deploy.yml"


def new_service(gh: Github, name: str = "orders") -> Repository:
    return gh.get_organization("acme").create_repo_from_template(
        name, gh.get_repo("acme/service-template")
    )


def write(repo: Repository, path: str, text: str, message: str) -> str:
    """Create or update `path`; returns the new commit's sha."""
    try:
        current = repo.get_contents(path)
    except GithubException as error:
        assert error.status == 404
        return repo.create_file(path, message, text)["commit"].sha
    assert not isinstance(current, list)
    return repo.update_file(path, message, text, current.sha)["commit"].sha


def refusal(call: object) -> GithubException:
    with pytest.raises(GithubException) as caught:
        call()  # type: ignore[operator]
    return caught.value


def test_path_keeps_only_the_commits_that_changed_the_file(gh: Github) -> None:
    repo = new_service(gh)
    write(repo, WORKFLOW, "on: push\n", "Add deploy")
    write(repo, "README.md", "# orders\n", "Edit readme")
    write(repo, WORKFLOW, "on: [push, create]\n", "Deploy on tags too")

    touched = repo.get_commits(path=WORKFLOW)

    # Two writes of one workflow file: the duplicate a benchmark is looking for.
    assert touched.totalCount == 2
    assert [commit.commit.message for commit in touched] == ["Deploy on tags too", "Add deploy"]
    assert [commit.commit.message for commit in repo.get_commits(path="README.md")] == [
        "Edit readme",
        "Initial commit",
    ]


def test_path_counts_a_delete_and_a_directory_counts_changes_below_it(gh: Github) -> None:
    repo = new_service(gh)
    write(repo, WORKFLOW, "on: push\n", "Add deploy")
    write(repo, ".github/workflows/ci.yml", "on: pull_request\n", "Add CI")
    deploy = repo.get_contents(WORKFLOW)
    assert not isinstance(deploy, list)
    repo.delete_file(WORKFLOW, "Drop deploy", deploy.sha)

    assert [c.commit.message for c in repo.get_commits(path=WORKFLOW)] == [
        "Drop deploy",
        "Add deploy",
    ]
    assert [c.commit.message for c in repo.get_commits(path=".github/workflows")] == [
        "Drop deploy",
        "Add CI",
        "Add deploy",
    ]
    assert list(repo.get_commits(path="no/such/file")) == []


def test_commits_are_newest_first_with_githubs_commit_shape(gh: Github) -> None:
    repo = new_service(gh)
    first = write(repo, WORKFLOW, "on: push\n", "Add deploy")
    second = write(repo, WORKFLOW, "on: [push]\n", "Tidy deploy")

    listed = list(repo.get_commits())

    assert [commit.sha for commit in listed[:2]] == [second, first]
    assert listed[-1].commit.message == "Initial commit" and listed[-1].parents == []
    assert [parent.sha for parent in listed[0].parents] == [first]
    assert listed[0].sha == repo.get_branch("main").commit.sha
    # The bot wrote them: GitHub ties the signature's email to its user.
    assert listed[0].author.login == "paved-bot"
    assert listed[0].commit.author.email == "paved-bot@users.noreply.github.com"


def test_sha_lists_from_a_branch_or_a_commit(gh: Github) -> None:
    repo = new_service(gh)
    first = write(repo, WORKFLOW, "on: push\n", "Add deploy")
    write(repo, WORKFLOW, "on: [push]\n", "Tidy deploy")

    assert repo.get_commits(sha="main")[0].commit.message == "Tidy deploy"
    from_first = [commit.sha for commit in repo.get_commits(sha=first)]
    assert from_first[0] == first and len(from_first) == 2


def test_unknown_sha_is_404_even_when_another_repository_has_it(gh: Github) -> None:
    repo = new_service(gh)
    other = new_service(gh, "billing")
    elsewhere = write(other, WORKFLOW, "on: push\n", "Add deploy")

    for sha in ("no-such-branch", elsewhere):
        error = refusal(lambda sha=sha: list(repo.get_commits(sha=sha)))
        assert error.status == 404
        assert error.data["message"] == f"No commit found for SHA: {sha}"


def test_empty_repository_is_409(gh: Github) -> None:
    repo = gh.get_organization("acme").create_repo("blank")

    error = refusal(lambda: list(repo.get_commits()))

    assert error.status == 409
    assert error.data["message"] == "Git Repository is empty."


def test_author_filter_takes_a_login_or_an_email(gh: Github) -> None:
    repo = new_service(gh)
    carol = InputGitAuthor("Carol Chen", "carol@acme.example")
    repo.create_file(WORKFLOW, "Carol adds deploy", "on: push\n", author=carol)
    write(repo, "README.md", "# orders\n", "Bot edits readme")

    by_login = list(repo.get_commits(author="carol"))
    by_email = list(repo.get_commits(author="carol@acme.example"))

    assert [commit.commit.message for commit in by_login] == ["Carol adds deploy"]
    assert [commit.sha for commit in by_email] == [by_login[0].sha]
    assert by_login[0].author.login == "carol"
    assert list(repo.get_commits(author="alice")) == []
    assert list(repo.get_commits(author="nobody-here")) == []


def test_since_and_until_bound_the_committer_date(gh: Github) -> None:
    repo = new_service(gh)
    write(repo, WORKFLOW, "on: push\n", "Add deploy")
    now = datetime.now(UTC)

    assert repo.get_commits(since=now - timedelta(hours=1)).totalCount == 2
    assert list(repo.get_commits(since=now + timedelta(hours=1))) == []
    assert list(repo.get_commits(until=now - timedelta(hours=1))) == []
    assert repo.get_commits(until=now + timedelta(hours=1)).totalCount == 2


def test_more_than_a_page_is_followed_through_link_headers(gh: Github) -> None:
    repo = new_service(gh)
    shas = [write(repo, WORKFLOW, f"on: push # {n}\n", f"Deploy {n}") for n in range(35)]

    touched = repo.get_commits(path=WORKFLOW)

    assert touched.totalCount == 35
    # PyGithub asks for 30 a page and follows `Link: rel="next"` for the rest.
    assert [commit.sha for commit in touched] == shas[::-1]
    assert [commit.sha for commit in touched.get_page(1)] == shas[::-1][30:]


def test_pages_are_linked_as_in_the_other_lists(gh: Github, server: ServerHandle) -> None:
    repo = new_service(gh)
    for n in range(4):
        write(repo, WORKFLOW, f"on: push # {n}\n", f"Deploy {n}")
    url = f"{server.url}/repos/acme/orders/commits"
    headers = {"Authorization": f"token {APP_TOKEN}"}

    first = httpx.get(url, params={"per_page": 2}, headers=headers)
    last = httpx.get(url, params={"per_page": 2, "page": 3}, headers=headers)
    everything = httpx.get(url, params={"per_page": 500}, headers=headers)

    assert [commit["commit"]["message"] for commit in first.json()] == ["Deploy 3", "Deploy 2"]
    assert first.links["next"]["url"] == f"{url}?per_page=2&page=2"
    assert first.links["last"]["url"] == f"{url}?per_page=2&page=3"
    assert [commit["commit"]["message"] for commit in last.json()] == ["Initial commit"]
    assert set(last.links) == {"prev", "first"}
    # per_page is capped at 100, so five commits come back at once, with no Link.
    assert len(everything.json()) == 5 and "link" not in everything.headers


def test_unreadable_date_is_400(gh: Github, server: ServerHandle) -> None:
    new_service(gh)
    answer = httpx.get(
        f"{server.url}/repos/acme/orders/commits",
        params={"since": "last tuesday"},
        headers={"Authorization": f"token {APP_TOKEN}"},
    )

    assert answer.status_code == 400
