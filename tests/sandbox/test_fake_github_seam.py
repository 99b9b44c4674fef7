"""The fake GitHub's test seam (`/_fake/`): faults, request journal, reset, seeding, and
running it as `python -m sandbox.fake_github`."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import pytest
import requests
from github import Github, GithubException

from sandbox.fake_github import FakeGitHubControl, GitHubState, ServerHandle, serve_in_thread
from sandbox.fake_github.server import TEST_PORTS


def test_a_status_fault_answers_the_next_matching_calls(
    gh: Github, control: FakeGitHubControl
) -> None:
    control.add_fault("/orgs/acme/repos", method="POST", status=502, times=2)
    org = gh.get_organization("acme")  # a GET: not hit
    for _ in range(2):
        with pytest.raises(GithubException) as caught:
            org.create_repo("orders")
        assert caught.value.status == 502
        assert caught.value.data["message"] == "Server Error"
    assert control.faults() == []
    assert org.create_repo("orders").name == "orders"
    assert [repo["name"] for repo in control.state()["repositories"]] == [
        "service-template",
        "orders",
    ]


def test_a_forbidden_fault_carries_its_message_and_headers(
    gh: Github, control: FakeGitHubControl
) -> None:
    control.add_fault(
        "/repos/acme/.*",
        status=403,
        message="API rate limit exceeded",
        headers={"X-RateLimit-Remaining": "0"},
    )
    with pytest.raises(GithubException) as caught:
        gh.get_repo("acme/service-template")
    assert caught.value.status == 403
    assert caught.value.headers is not None and caught.value.headers["x-ratelimit-remaining"] == "0"


def test_a_drop_fault_closes_the_connection_without_an_answer(
    gh: Github, control: FakeGitHubControl
) -> None:
    control.add_fault("/orgs/acme", method="GET", drop=True)
    with pytest.raises(requests.exceptions.ConnectionError):
        gh.get_organization("acme").login  # noqa: B018 - the attribute triggers the call
    assert gh.get_organization("acme").login == "acme"  # the next call gets through
    dropped = control.requests()[0]
    assert (dropped["path"], dropped["status"], dropped["fault"]) == ("/orgs/acme", None, "drop")


def test_faults_are_listed_until_spent_and_can_be_cleared(
    gh: Github, control: FakeGitHubControl
) -> None:
    control.add_fault("/user", status=500, times=3)
    control.add_fault("/orgs/.*", drop=True)
    assert [(fault["path"], fault["times"]) for fault in control.faults()] == [
        ("/user", 3),
        ("/orgs/.*", 1),
    ]
    with pytest.raises(GithubException):
        gh.get_user().login  # noqa: B018
    assert control.faults()[0]["times"] == 2
    control.clear_faults()
    assert control.faults() == []
    assert gh.get_user().login == "paved-bot"


def test_a_fault_path_must_match_the_whole_path(gh: Github, control: FakeGitHubControl) -> None:
    control.add_fault("/repos/acme/service-template", status=502)
    assert (
        gh.withLazy(True).get_repo("acme/service-template").get_topics() == []
    )  # .../topics is not hit
    assert len(control.faults()) == 1


def test_a_fault_on_a_slug_path_hits_id_based_team_calls(
    gh: Github, control: FakeGitHubControl
) -> None:
    team = gh.get_organization("acme").get_team_by_slug("platform")
    assert team.url.endswith(f"/team/{team.id}")  # PyGithub calls under this url
    control.add_fault("/orgs/acme/teams/platform/memberships/.*", method="PUT", status=502)
    with pytest.raises(GithubException) as caught:
        team.add_membership(gh.get_user("erin"))
    assert caught.value.status == 502
    assert control.requests(writes_only=True)[0]["path"].startswith("/organizations/")


def test_a_bad_fault_is_refused(control: FakeGitHubControl) -> None:
    with pytest.raises(httpx.HTTPStatusError) as caught:
        control.add_fault("/repos/(unclosed")
    assert caught.value.response.status_code == 422


def test_the_journal_records_calls_bodies_and_answers(
    gh: Github, control: FakeGitHubControl
) -> None:
    repo = gh.get_organization("acme").create_repo("orders", description="Orders")
    repo.get_topics()
    journal = control.requests()
    assert [(entry["method"], entry["path"], entry["status"]) for entry in journal] == [
        ("GET", "/orgs/acme", 200),
        ("POST", "/orgs/acme/repos", 201),
        ("GET", "/repos/acme/orders/topics", 200),
    ]
    create = journal[1]
    assert create["write"] and create["body"] == {"name": "orders", "description": "Orders"}
    assert create["response_body"]["full_name"] == "acme/orders"
    assert create["timestamp"] and create["fault"] is None
    assert [entry["path"] for entry in control.requests(writes_only=True)] == ["/orgs/acme/repos"]
    control.clear_requests()
    assert control.requests() == []


def test_the_journal_shows_when_nothing_was_written(gh: Github, control: FakeGitHubControl) -> None:
    gh.get_repo("acme/service-template").get_contents("README.md")
    assert control.requests(writes_only=True) == []
    assert len(control.requests()) == 2


def test_reset_returns_to_the_seed_and_forgets_calls(
    gh: Github, control: FakeGitHubControl
) -> None:
    gh.get_organization("acme").create_repo("orders")
    gh.get_repo("acme/service-template").replace_topics(["changed"])
    control.add_fault("/user", status=500)
    control.reset()
    assert [repo["full_name"] for repo in control.state()["repositories"]] == [
        "acme/service-template"
    ]
    assert control.state()["repositories"][0]["topics"] == []
    assert control.faults() == [] and control.requests() == []


def test_seed_replaces_the_world_and_becomes_the_reset_point(
    gh: Github, control: FakeGitHubControl
) -> None:
    control.seed(
        {
            "organization": {"login": "globex", "name": "Globex", "template_repository": "tmpl",
                             "template_files": {"main.py": "print(1)\n"}},
            "people": [{"handle": "hank", "name": "Hank Scorpio", "email": "hank@globex.example"}],
            "teams": [{"slug": "villains", "name": "Villains", "lead": "hank", "members": []}],
        }
    )  # fmt: skip
    assert (
        gh.get_organization("globex").get_team_by_slug("villains").get_team_membership("hank").role
        == "maintainer"
    )
    with pytest.raises(GithubException):
        gh.get_organization("acme").login  # noqa: B018
    gh.get_organization("globex").create_repo("lair")
    control.reset()
    assert [repo["full_name"] for repo in control.state()["repositories"]] == ["globex/tmpl"]
    with pytest.raises(httpx.HTTPStatusError):
        control.seed({"teams": "not a list"})


def test_state_can_be_shared_with_the_test(server: ServerHandle, gh: Github) -> None:
    gh.get_organization("acme").create_repo("orders")
    assert server.state.get_repository("acme", "orders").name == "orders"


def test_serve_in_thread_serves_a_given_state() -> None:
    handle = serve_in_thread(state=GitHubState({"organization": {"login": "solo"}}))
    try:
        assert (
            httpx.get(f"{handle.url}/orgs/solo", headers={"Authorization": "t"}).json()["login"]
            == "solo"
        )
    finally:
        handle.stop()


def free_port() -> int:
    for port in TEST_PORTS:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError("no free port")


def test_python_dash_m_runs_the_fake() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.fake_github", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/_fake/health").json() == {"ok": True}
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()[1].decode()
                assert time.monotonic() < deadline, "the fake did not start"
                time.sleep(0.1)
        org = httpx.get(f"http://127.0.0.1:{port}/orgs/acme", headers={"Authorization": "t"}).json()
        assert org["name"] == "Acme Corp"
    finally:
        process.terminate()
        process.communicate(timeout=10)
