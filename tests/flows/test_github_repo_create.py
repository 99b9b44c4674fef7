"""`github:repo:create` against the fake GitHub and a real registry, in-process.

The fake GitHub is Paved's own stateful server (held honest by the contract tests); its
request journal tells whether a rejected request reached GitHub at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from github import Github
from prefect import flow, task
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from pydantic import SecretStr

from blocks import GITHUB_BLOCK, GitHubOrganization, load_block
from flows.actions.github_repo_create import (
    RepoCreateRequest,
    RepoCreateResult,
    github_repo_create,
    repo_ensurers,
    repo_plan,
)
from flows.engine.apply import Applied, Submitted, Waits, apply_plan, by_key
from flows.engine.context import ServiceContext
from flows.engine.plan import Plan, PlannedResource, ResourceRef, union
from registry import policy, queries
from registry.db import make_engine, session_scope
from registry.errors import Conflict, NotAuthorized, NotFound
from registry.models import Provider, ResourceStatus, ServiceStatus
from sandbox.fake_github.control import FakeGitHubControl

pytestmark = pytest.mark.usefixtures("paved_blocks")

HELLO = {"name": "hello", "team": "platform", "owner": "alice", "requester": "bob"}
REPOSITORY_KEY = "github_repository:acme/hello"


def run(request: dict[str, Any]) -> Any:
    return github_repo_create(request=request, return_state=True)


def registry(url: str) -> Any:
    return session_scope(make_engine(url))


def repo_state(fake: FakeGitHubControl, full_name: str) -> dict[str, Any]:
    repos = {repo["full_name"]: repo for repo in fake.state()["repositories"]}
    return repos[full_name]


def test_creates_the_repository_with_owner_protection_and_journal(
    fake_github: FakeGitHubControl, registry_url: str
) -> None:
    state = run({**HELLO, "description": "Says hello."})

    assert state.is_completed(), state.message
    result = state.result()
    assert isinstance(result, RepoCreateResult)
    assert result.created and result.repository == "acme/hello"
    repo = repo_state(fake_github, "acme/hello")
    assert set(repo["topics"]) >= {"paved", "platform"}
    assert "CODEOWNERS" in repo["files"] and "Dockerfile" in repo["files"]
    assert repo["protection"]["main"]["required_pull_request_reviews"]["require_code_owner_reviews"]
    assert repo["team_permissions"] == {"platform": "maintain"}

    with registry(registry_url) as session:
        owner = queries.ownership_of(session, thing="acme/hello")
        assert owner is not None
        assert (owner.service, owner.owner, owner.team) == ("hello", "alice", "platform")
        resource = queries.get_resource(
            session, provider=Provider.GITHUB, kind="github_repository", name="acme/hello"
        )
        assert resource is not None and resource.status == ResourceStatus.ACTIVE
        assert resource.external_id == "acme/hello"
        assert resource.tags["paved:owner"] == "alice"
        assert resource.tags["paved:cost-center"] == "cc-100"
        assert resource.url == result.url and result.url.endswith("/acme/hello")
        # The declared settings, and what the run learned (what a pipeline reads).
        assert resource.spec["team_permission"] == {"platform": "maintain"}
        assert resource.spec["default_branch"] == "main"
        assert resource.spec["full_name"] == "acme/hello"
        assert resource.spec["html_url"] == result.url
        # One row: CODEOWNERS, protection and the team's permission are its settings.
        assert len(queries.find_resources(session, service="hello")) == 1
        service = queries.require_service(session, name="hello")
        assert service.status == ServiceStatus.ACTIVE
        assert service.description == "Says hello."
        # The engine records, for every resource a plan makes, that the service depends
        # on it: here the repository it is built from.
        assert [
            (d.depends_on_resource, d.kind)
            for d in queries.dependencies_of(session, service="hello")
        ] == [(("github", "github_repository", "acme/hello"), "built-from")]
        journal = queries.journal_for_run(session, flow_run_id=str(state.state_details.flow_run_id))
        assert [entry.state for entry in journal] == ["Running", "Completed"]
        assert journal[-1].requester == "bob" and journal[-1].action == "github:repo:create"

    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(state.state_details.flow_run_id)
    assert flow_run.name == "create-repo/platform/hello"
    assert {
        "paved",
        "action:github:repo:create",
        "team:platform",
        "service:hello",
        "requester:bob",
    } <= set(flow_run.tags)


def test_codeowners_names_the_owning_team(fake_github: FakeGitHubControl, github: Github) -> None:
    assert run(HELLO).is_completed()
    codeowners = github.get_repo("acme/hello").get_contents("CODEOWNERS")
    assert not isinstance(codeowners, list)
    assert "* @acme/platform" in codeowners.decoded_content.decode()


def test_rerun_succeeds_and_writes_nothing(
    fake_github: FakeGitHubControl, registry_url: str
) -> None:
    assert run(HELLO).is_completed()
    fake_github.clear_requests()

    state = run(HELLO)

    assert state.is_completed(), state.message
    result = state.result()
    assert not result.created and result.changes == []
    assert fake_github.requests(writes_only=True) == []
    with registry(registry_url) as session:
        assert len(queries.find_resources(session, service="hello")) == 1


def test_rerun_with_another_owner_is_refused_and_moves_nothing(
    fake_github: FakeGitHubControl, registry_url: str
) -> None:
    assert run(HELLO).is_completed()
    fake_github.clear_requests()

    state = run({**HELLO, "owner": "bob"})

    assert state.type == StateType.FAILED
    with pytest.raises(Conflict, match="does not move ownership to 'bob'") as failure:
        state.result()
    assert "service:transfer" in str(failure.value)
    assert fake_github.requests(writes_only=True) == []
    with registry(registry_url) as session:
        owner = queries.ownership_of(session, thing="hello")
        assert owner is not None and owner.owner == "alice"


def test_dry_run_touches_nothing(fake_github: FakeGitHubControl, registry_url: str) -> None:
    state = run({**HELLO, "dry_run": True})

    assert state.is_completed(), state.message
    assert state.result().dry_run
    assert fake_github.requests(writes_only=True) == []
    with registry(registry_url) as session:
        assert queries.find_resources(session, service="hello") == []


BAD_NAMES = {
    "upper case": "Hello",
    "underscore": "hello_world",
    "space": "hello world",
    "dot dot": "a..b",
    "slash": "acme/hello",
    "leading hyphen": "-hello",
    "trailing hyphen": "hello-",
    "over-long": "a" * 33,
    "cyrillic look-alike": "h\u0435llo",
    "empty": "",
}


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_bad_names_are_rejected_before_any_write(
    fake_github: FakeGitHubControl, registry_url: str, name: str
) -> None:
    state = run({**HELLO, "name": name})

    assert state.type == StateType.FAILED
    # The message names the field and the value refused (the empty one has none to show).
    shown = f"repository name {name!r}" if name else "repository name is empty"
    assert f"request.name: Value error, {shown}" in (state.message or "")
    assert fake_github.requests(writes_only=True) == []


# (change, the error's class, what it says): unknown names are NotFound, strangers NotAuthorized.
BAD_PEOPLE: dict[str, tuple[dict[str, str], type[Exception], str]] = {
    "unknown team": ({"team": "marketing"}, NotFound, "marketing"),
    "owner outside the team": (
        {"owner": "carol"},
        NotAuthorized,
        "'carol' is not a member of team 'platform'",
    ),
    "requester outside the team": ({"requester": "dave"}, NotAuthorized, "'dave' is not a member"),
    "erin as owner": ({"owner": "erin"}, NotAuthorized, "'erin'"),
    "unknown owner": ({"owner": "zed"}, NotFound, "zed"),
}


@pytest.mark.parametrize(("change", "error", "says"), BAD_PEOPLE.values(), ids=BAD_PEOPLE.keys())
def test_bad_people_are_rejected_before_any_write(
    fake_github: FakeGitHubControl,
    registry_url: str,
    change: dict[str, str],
    error: type[Exception],
    says: str,
) -> None:
    state = run({**HELLO, **change})

    assert state.type == StateType.FAILED
    with pytest.raises(error, match=says):
        state.result()
    assert fake_github.requests(writes_only=True) == []
    with registry(registry_url) as session:
        assert queries.find_resources(session, service="hello") == []
        journal = queries.journal_for_run(session, flow_run_id=str(state.state_details.flow_run_id))
        assert journal[-1].state == "Failed" and says.strip("'") in (journal[-1].error or "")


def test_unknown_request_field_is_rejected(fake_github: FakeGitHubControl) -> None:
    state = run({**HELLO, "visibility": "public"})

    assert state.type == StateType.FAILED
    assert "visibility" in (state.message or "")
    assert fake_github.requests(writes_only=True) == []


def test_transient_github_faults_are_retried(
    fake_github: FakeGitHubControl, registry_url: str
) -> None:
    fake_github.add_fault(method="POST", path=r"/repos/acme/service-template/generate", status=502)
    fake_github.add_fault(method="PUT", path=r"/repos/acme/hello/topics", drop=True)

    state = run(HELLO)

    assert state.is_completed(), state.message
    generate_calls = [
        r for r in fake_github.requests(writes_only=True) if r["path"].endswith("/generate")
    ]
    assert [r["status"] for r in generate_calls] == [502, 201]
    assert set(repo_state(fake_github, "acme/hello")["topics"]) >= {"paved", "platform"}


def test_permanent_fault_fails_at_once_and_rerun_converges(
    fake_github: FakeGitHubControl, registry_url: str
) -> None:
    fake_github.add_fault(
        method="PUT", path=r"/repos/acme/hello/branches/main/protection", status=403, times=5
    )

    state = run(HELLO)

    assert state.type == StateType.FAILED
    with pytest.raises(
        Exception, match=r"github protect branch main failed for acme/hello: HTTP 403"
    ):
        state.result()
    protection_calls = [
        r
        for r in fake_github.requests()
        if r["path"].endswith("/protection") and r["method"] == "PUT"
    ]
    assert len(protection_calls) == 1, "a 403 is not retried"
    with registry(registry_url) as session:
        resource = queries.get_resource(
            session, provider=Provider.GITHUB, kind="github_repository", name="acme/hello"
        )
        assert resource is not None and resource.status == ResourceStatus.FAILED
        assert "403" in (resource.error or "")
        # The service this run created never became active: it is failed, until a re-run.
        assert queries.require_service(session, name="hello").status == ServiceStatus.FAILED
        journal = queries.journal_for_run(session, flow_run_id=str(state.state_details.flow_run_id))
        assert journal[-1].state == "Failed" and "403" in (journal[-1].error or "")

    fake_github.clear_faults()
    state = run(HELLO)

    assert state.is_completed(), state.message
    result = state.result()
    assert not result.created
    assert any("protected branch main" in change for change in result.changes)
    with registry(registry_url) as session:
        resource = queries.get_resource(
            session, provider=Provider.GITHUB, kind="github_repository", name="acme/hello"
        )
        assert resource is not None and resource.status == ResourceStatus.ACTIVE
        assert resource.error is None
        assert queries.require_service(session, name="hello").status == ServiceStatus.ACTIVE


@pytest.mark.parametrize("topics", [[], ["paved", "platform"]])
def test_repository_created_behind_paveds_back_is_a_conflict(
    fake_github: FakeGitHubControl, github: Github, topics: list[str]
) -> None:
    # Even one carrying Paved's own topics: a topic is anyone's to set, the registry's
    # record is not.
    repo = github.get_organization("acme").create_repo("hello")
    if topics:
        repo.replace_topics(topics)
    fake_github.clear_requests()

    state = run(HELLO)

    assert state.type == StateType.FAILED
    shown = ", ".join(topics) or "none"
    with pytest.raises(
        Exception,
        match=rf"repository acme/hello already exists in GitHub and is not service 'hello''s "
        rf"in the registry \(its topics: {shown}\); Paved never adopts",
    ):
        state.result()
    assert fake_github.requests(writes_only=True) == []
    assert sorted(github.get_repo("acme/hello").get_topics()) == sorted(topics)


def test_request_model_describes_every_field() -> None:
    schema = RepoCreateRequest.model_json_schema()
    assert schema["additionalProperties"] is False
    for name, field in schema["properties"].items():
        assert field.get("description"), f"{name} has no description"


def test_secrets_never_reach_the_journal() -> None:
    from pydantic import SecretStr

    from flows.engine.request import PavedRequest, redacted

    class WithSecrets(PavedRequest):
        name: str
        token: SecretStr
        approval_code: str

    request = WithSecrets(
        requester="bob", name="hello", token=SecretStr("t0k"), approval_code="123"
    )
    journal = redacted(request)
    assert journal["name"] == "hello" and journal["requester"] == "bob"
    assert journal["token"] == journal["approval_code"] == "**********"


# --- the plan and the ensurer, as service:create's union uses them ----------------------

ACME = GitHubOrganization(organization="acme", token=SecretStr("unused"))


def test_the_plan_is_the_repository_alone_with_its_settings() -> None:
    plan = repo_plan(
        RepoCreateRequest.model_validate({**HELLO, "private": False, "template": "go-template"}),
        ACME,
    )

    assert (plan.action, plan.service, plan.claims) == (
        "github:repo:create",
        "hello",
        ["github:repo:create:hello"],
    )
    (repository,) = plan.resources
    assert repository.key == REPOSITORY_KEY
    assert (repository.depends_on, repository.after, repository.shared) == ([], [], False)
    assert repository.spec == {
        "template": "acme/go-template",
        "private": False,
        "topics": ["paved", "platform"],
        "codeowners": "@acme/platform",
        "default_branch": "main",
        "branch_protection": {
            "required_approving_review_count": 1,
            "require_code_owner_reviews": True,
            "dismiss_stale_reviews": True,
            "enforce_admins": True,
        },
        "team_permission": {"platform": "maintain"},
    }
    assert any("CODEOWNERS" in note for note in plan.notes)


@task(name="test: read the repository")
def read_repository(upstream: dict[str, Any]) -> dict[str, Any]:
    return upstream


def pipeline_like(item: PlannedResource, upstream: Mapping[str, Applied], wait: Waits) -> Submitted:
    seen = {key: applied.model_dump() for key, applied in upstream.items()}
    future = read_repository.submit(seen, wait_for=wait, return_state=False)
    return Submitted(
        future, lambda r: Applied(external_id="seen", created=True, changes=[], spec=r)
    )


@flow(name="test-repo-in-a-union")
def repository_in_a_union(request: RepoCreateRequest) -> dict[str, Any]:
    github = load_block(GitHubOrganization, GITHUB_BLOCK)
    repo = repo_plan(request, github)
    reader = PlannedResource(
        ref=ResourceRef(service="hello", provider=Provider.GITHUB, kind="reader", name="r"),
        spec={},
        depends_on=[REPOSITORY_KEY],
    )
    # Alone, such a plan is given the repository an earlier run made; in the union the
    # repository is planned, so its ensure task's outcome is what the reader gets.
    earlier = Applied(external_id="from an earlier run", created=False, changes=[])
    other = Plan(
        action="test:read", service="hello", resources=[reader], given={REPOSITORY_KEY: earlier}
    )
    plan = union("test:union", "hello", [repo, other])
    ensure = {
        **by_key(repo, repo_ensurers(github, description=request.description)),
        **by_key(other, {"reader": pipeline_like}),
    }
    context = ServiceContext(
        service="hello",
        team="platform",
        owner="alice",
        cost_center="cc-100",
        change_approver=None,
        oncall=None,
        tags=policy.policy_tags(
            service="hello", team="platform", owner="alice", cost_center="cc-100"
        ),
    )
    done = apply_plan(plan, context=context, ensure=ensure, flow_run_id="union-1")
    (outcome,) = [applied for item, applied in done if item.ref.kind == "reader"]
    return outcome.spec[REPOSITORY_KEY]


def test_what_depends_on_the_repository_reads_it_from_upstream(
    fake_github: FakeGitHubControl, registry_url: str
) -> None:
    repository = repository_in_a_union(RepoCreateRequest.model_validate(HELLO))

    assert repository["external_id"] == "acme/hello"
    assert repository["created"] is True
    assert repository["url"] == repository["spec"]["html_url"]
    assert repository["spec"]["full_name"] == "acme/hello"
    assert repository["spec"]["default_branch"] == "main"
    assert set(repo_state(fake_github, "acme/hello")["topics"]) >= {"paved", "platform"}
