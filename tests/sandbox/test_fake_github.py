"""Behaviour of the fake GitHub, driven through PyGithub as Paved drives GitHub."""

from __future__ import annotations

import base64
import hashlib
import threading

import httpx
import pytest
import yaml
from github import Auth, Github, GithubException

from sandbox.fake_github import FakeGitHubControl, ServerHandle
from sandbox.fake_github.seed import DEFAULT_SEED_PATH

SEED = yaml.safe_load(DEFAULT_SEED_PATH.read_text(encoding="utf-8"))
TEMPLATE_FILES: dict[str, str] = SEED["organization"]["template_files"]


def git_blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\x00" % len(data) + data, usedforsecurity=False).hexdigest()


def team_state(control: FakeGitHubControl, slug: str) -> dict[str, object]:
    return next(team for team in control.state()["teams"] if team["slug"] == slug)


def refusal(call: object) -> GithubException:
    with pytest.raises(GithubException) as caught:
        call()  # type: ignore[operator]
    return caught.value


def test_seed_creates_the_organization_people_teams_and_template(gh: Github) -> None:
    org = gh.get_organization("acme")
    assert org.name == "Acme Corp"
    assert gh.get_user("carol").email == "carol@acme.example"
    payments = org.get_team_by_slug("payments")
    assert payments.get_team_membership("carol").role == "maintainer"
    assert payments.get_team_membership("dave").role == "member"
    template = gh.get_repo("acme/service-template")
    assert template.is_template and template.default_branch == "main"
    assert gh.get_user().login == "paved-bot"


def test_template_generation_copies_the_template_files(
    gh: Github, control: FakeGitHubControl
) -> None:
    org = gh.get_organization("acme")
    repo = org.create_repo_from_template(
        "orders", gh.get_repo("acme/service-template"), private=True
    )
    assert repo.private and repo.default_branch == "main"
    for path, text in TEMPLATE_FILES.items():
        content = repo.get_contents(path)
        assert not isinstance(content, list)
        assert content.decoded_content.decode() == text
        assert content.sha == git_blob_sha(text.encode())
    state = {entry["full_name"]: entry for entry in control.state()["repositories"]}
    assert state["acme/orders"]["files"] == sorted(TEMPLATE_FILES)
    assert state["acme/orders"]["template"] == "acme/service-template"


def test_an_existing_name_is_refused_as_github_does(gh: Github) -> None:
    org = gh.get_organization("acme")
    org.create_repo("orders")
    error = refusal(lambda: org.create_repo("Orders"))  # names are case-insensitive
    assert error.status == 422
    assert error.data == {
        "message": "Repository creation failed.",
        "errors": [
            {
                "resource": "Repository",
                "code": "custom",
                "field": "name",
                "message": "name already exists on this account",
            }
        ],
        "documentation_url": "https://docs.github.com/rest",
        "status": "422",
    }


@pytest.mark.parametrize("name", ["", "   ", "team/orders", "x" * 101, ".."])
def test_names_github_refuses_are_refused(gh: Github, name: str) -> None:
    assert refusal(lambda: gh.get_organization("acme").create_repo(name)).status == 422


def test_names_are_cleaned_as_github_does(gh: Github) -> None:
    assert gh.get_organization("acme").create_repo("my new service!").name == "my-new-service-"


def test_contents_updates_need_the_current_sha(gh: Github) -> None:
    repo = gh.get_organization("acme").create_repo("orders", auto_init=True)
    created = repo.create_file(".github/workflows/ci.yml", "Add CI", "on: push\n")
    first_sha = created["content"].sha
    assert first_sha == git_blob_sha(b"on: push\n")
    duplicate = refusal(lambda: repo.create_file(".github/workflows/ci.yml", "Again", "x"))
    assert duplicate.status == 422 and "sha" in duplicate.data["message"]
    updated = repo.update_file(".github/workflows/ci.yml", "Update", "on: [push]\n", first_sha)
    stale = refusal(lambda: repo.update_file(".github/workflows/ci.yml", "Stale", "x", first_sha))
    assert stale.status == 409
    assert (
        refusal(lambda: repo.delete_file(".github/workflows/ci.yml", "Stale", first_sha)).status
        == 409
    )
    assert updated["commit"].sha != created["commit"].sha
    content = repo.get_contents(".github/workflows/ci.yml")
    assert not isinstance(content, list) and content.decoded_content == b"on: [push]\n"
    old = repo.get_contents(".github/workflows/ci.yml", ref=created["commit"].sha)
    assert not isinstance(old, list) and old.decoded_content == b"on: push\n"
    repo.delete_file(".github/workflows/ci.yml", "Remove", updated["content"].sha)
    assert refusal(lambda: repo.get_contents(".github/workflows/ci.yml")).status == 404
    assert [entry.path for entry in repo.get_contents("")] == ["README.md"]  # type: ignore[union-attr]


def test_writes_to_an_archived_repository_are_forbidden(gh: Github) -> None:
    repo = gh.get_organization("acme").create_repo("orders", auto_init=True)
    repo.edit(archived=True)
    assert refusal(lambda: repo.create_file("NOTES.md", "Note", "x")).status == 403
    assert refusal(lambda: repo.replace_topics(["x"])).status == 403
    repo.edit(archived=False)
    repo.create_file("NOTES.md", "Note", "x")


def test_edit_changes_only_what_is_sent(gh: Github, control: FakeGitHubControl) -> None:
    repo = gh.get_organization("acme").create_repo("orders", description="Orders", auto_init=True)
    repo.edit(private=True, has_issues=False)
    fresh = gh.get_repo("acme/orders")
    assert (fresh.private, fresh.has_issues, fresh.description, fresh.has_wiki) == (
        True,
        False,
        "Orders",
        True,
    )
    repo.edit(name="orders-service")
    assert gh.get_repo("acme/orders-service").id == repo.id
    assert refusal(lambda: gh.get_repo("acme/orders").name).status == 404


def test_topics_follow_githubs_rules(gh: Github) -> None:
    repo = gh.get_repo("acme/service-template")
    repo.replace_topics(["golden-path", "python3"])
    assert repo.get_topics() == ["golden-path", "python3"]
    for bad in (["Python"], ["-leading-hyphen"], ["x" * 51], [f"t{i}" for i in range(21)]):
        assert refusal(lambda bad=bad: repo.replace_topics(bad)).status == 422
    assert repo.get_topics() == ["golden-path", "python3"]


def test_branch_protection_round_trips(gh: Github, control: FakeGitHubControl) -> None:
    repo = gh.get_repo("acme/service-template")
    branch = repo.get_branch("main")
    not_protected = refusal(branch.get_protection)
    assert not_protected.status == 404
    assert not_protected.data["message"] == "Branch not protected"
    branch.edit_protection(
        strict=True,
        contexts=["ci/build", "ci/test"],
        enforce_admins=True,
        dismiss_stale_reviews=True,
        require_code_owner_reviews=True,
        required_approving_review_count=2,
        user_push_restrictions=["alice"],
        team_push_restrictions=["platform"],
    )
    assert repo.get_branch("main").protected
    protection = repo.get_branch("main").get_protection()
    assert protection.required_status_checks.strict
    assert protection.required_status_checks.contexts == ["ci/build", "ci/test"]
    assert protection.enforce_admins
    reviews = protection.required_pull_request_reviews
    assert reviews.require_code_owner_reviews and reviews.dismiss_stale_reviews
    assert reviews.required_approving_review_count == 2
    push_users = protection.get_user_push_restrictions()
    push_teams = protection.get_team_push_restrictions()
    assert push_users is not None and [user.login for user in push_users] == ["alice"]
    assert push_teams is not None and [team.slug for team in push_teams] == ["platform"]
    dumped = control.state()["repositories"]
    template = next(entry for entry in dumped if entry["full_name"] == "acme/service-template")
    assert (
        template["protection"]["main"]["required_pull_request_reviews"][
            "required_approving_review_count"
        ]
        == 2
    )
    # A PUT replaces the whole protection, as on GitHub.
    branch.edit_protection(required_approving_review_count=1)
    replaced = repo.get_branch("main").get_protection()
    assert replaced.required_status_checks is None and not replaced.enforce_admins
    branch.remove_protection()
    assert not repo.get_branch("main").protected
    assert refusal(branch.get_protection).status == 404


def test_protection_refuses_unknown_people_and_too_many_reviews(gh: Github) -> None:
    branch = gh.get_repo("acme/service-template").get_branch("main")
    assert refusal(lambda: branch.edit_protection(user_push_restrictions=["nobody"])).status == 422
    assert refusal(lambda: branch.edit_protection(team_push_restrictions=["no-team"])).status == 422
    assert refusal(lambda: branch.edit_protection(required_approving_review_count=7)).status == 422
    assert not gh.get_repo("acme/service-template").get_branch("main").protected


def test_team_permissions_and_memberships(gh: Github, control: FakeGitHubControl) -> None:
    org = gh.get_organization("acme")
    team = org.get_team_by_slug("platform")
    repo = gh.get_repo("acme/service-template")
    assert team.get_repo_permission(repo) is None
    assert team.update_team_repository(repo, "maintain")
    permissions = team.get_repo_permission(repo)
    assert permissions is not None and (permissions.maintain, permissions.admin) == (True, False)
    assert team_state(control, "platform")["repositories"] == {"acme/service-template": "maintain"}
    team.add_membership(gh.get_user("erin"))
    assert team.get_team_membership("erin").role == "member"
    assert "erin" in [member.login for member in team.get_members()]
    team.remove_membership(gh.get_user("erin"))
    assert refusal(lambda: team.get_team_membership("erin")).status == 404
    repo.delete()
    assert team_state(control, "platform")["repositories"] == {}


def test_team_repository_check_answers_by_media_type(server: ServerHandle, gh: Github) -> None:
    gh.get_organization("acme").get_team_by_slug("payments").update_team_repository(
        "acme/service-template", "push"
    )
    url = f"{server.url}/orgs/acme/teams/payments/repos/acme/service-template"
    with httpx.Client(headers={"Authorization": "token x"}) as client:
        assert client.get(url).status_code == 204
        detailed = client.get(url, headers={"Accept": "application/vnd.github.v3.repository+json"})
        assert detailed.status_code == 200
        assert detailed.json()["permissions"] == {
            "admin": False, "maintain": False, "push": True, "triage": True, "pull": True,
        }  # fmt: skip
        assert detailed.json()["role_name"] == "write"
        assert (
            client.get(
                f"{server.url}/orgs/acme/teams/platform/repos/acme/service-template"
            ).status_code
            == 404
        )


def test_lists_are_paged_with_link_headers(server: ServerHandle, gh: Github) -> None:
    org = gh.get_organization("acme")
    for number in range(5):
        org.create_repo(f"svc-{number}")
    with httpx.Client(headers={"Authorization": "token x"}) as client:
        first = client.get(
            f"{server.url}/orgs/acme/repos", params={"per_page": 2, "sort": "full_name"}
        )
        assert [repo["name"] for repo in first.json()] == ["service-template", "svc-0"]
        assert first.links["next"]["url"].endswith("page=2")
        assert first.links["last"]["url"].endswith("page=3")
        last = client.get(first.links["last"]["url"])
        assert [repo["name"] for repo in last.json()] == ["svc-3", "svc-4"]
        assert "next" not in last.links and last.links["prev"]["url"].endswith("page=2")
    paged = Github(
        base_url=server.url, auth=Auth.Token("x"), per_page=2, seconds_between_requests=None
    )
    assert len(list(paged.get_organization("acme").get_repos())) == 6
    paged.close()


def test_urls_are_built_from_the_request_host(
    server: ServerHandle, control: FakeGitHubControl
) -> None:
    # `control` seeds the world: the server is per module, and a test before this one (in
    # whatever order xdist gives) may have left another world behind.
    port = server.url.rsplit(":", 1)[1]
    # Connected to the server's own address with `Host: localhost:<port>`: "localhost" may
    # resolve to ::1, where another process can hold the same port (CI saw a foreign
    # answer once), and no proxy of the environment is consulted.
    headers = {"Authorization": "token x", "Host": f"localhost:{port}"}
    with httpx.Client(headers=headers, trust_env=False) as client:
        answer = client.get(f"{server.url}/repos/acme/service-template")
    assert answer.status_code == 200, answer.text
    repo = answer.json()
    assert repo["url"] == f"http://localhost:{port}/repos/acme/service-template"
    assert repo["owner"]["url"].startswith(f"http://localhost:{port}/")
    assert repo["html_url"].startswith(f"http://localhost:{port}/")


def test_calls_without_a_token_are_refused(server: ServerHandle) -> None:
    answer = httpx.get(f"{server.url}/orgs/acme")
    assert answer.status_code == 401
    assert answer.json()["message"] == "Requires authentication"
    assert httpx.get(f"{server.url}/_fake/health").json() == {"ok": True}


def test_unknown_paths_answer_githubs_not_found(
    server: ServerHandle, control: FakeGitHubControl
) -> None:
    answer = httpx.get(
        f"{server.url}/repos/acme/service-template/no-such-thing", headers={"Authorization": "t"}
    )
    assert answer.status_code == 404
    assert answer.json() == {
        "message": "Not Found",
        "documentation_url": "https://docs.github.com/rest",
        "status": "404",
    }


def test_invalid_bodies_are_refused_with_422(
    server: ServerHandle, control: FakeGitHubControl
) -> None:
    answer = httpx.put(
        f"{server.url}/repos/acme/service-template/contents/x.txt",
        headers={"Authorization": "t"},
        json={"message": "m", "content": "not base64!"},
    )
    assert answer.status_code == 422
    answer = httpx.post(
        f"{server.url}/orgs/acme/repos", headers={"Authorization": "t"}, json={"private": True}
    )
    assert answer.status_code == 422 and answer.json()["message"].startswith("Invalid request.")


def test_concurrent_writes_lose_nothing(gh: Github, server: ServerHandle) -> None:
    gh.get_organization("acme").create_repo("busy", auto_init=True)
    statuses: list[int] = []

    def write_files(worker: int) -> None:
        with httpx.Client(base_url=server.url, headers={"Authorization": "t"}) as client:
            for number in range(10):
                content = base64.b64encode(f"{worker}-{number}".encode()).decode()
                path = f"/repos/acme/busy/contents/w{worker}/f{number}.txt"
                statuses.append(
                    client.put(path, json={"message": "m", "content": content}).status_code
                )

    threads = [threading.Thread(target=write_files, args=(worker,)) for worker in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [201] * 60
    files = next(
        repo for repo in server.state.snapshot()["repositories"] if repo["name"] == "busy"
    )["files"]
    assert len(files) == 61  # README.md and 60 files
