"""`pipeline_plan`: the pipeline as a value, planned with or without its repository.

Pure: no server, no provider. The runs themselves are in test_github_pipeline_create.py.
"""

from __future__ import annotations

import pytest

from flows.actions.github_pipeline_create import (
    PipelineCreateRequest,
    given_repository,
    pipeline_plan,
    repository_key,
)
from flows.engine.context import ServiceContext
from flows.engine.plan import Plan, PlannedResource, ResourceRef, render, union
from registry.models import Provider
from tasks.aws.policy_documents import InvalidPolicyDocument
from tasks.github import RepositoryInfo

CONTEXT = ServiceContext(
    service="orders",
    team="payments",
    owner="carol",
    cost_center="cc-200",
    change_approver="carol",
    oncall="dave",
    tags={"paved:service": "orders"},
)
ACCOUNT = "123456789012"
OIDC = f"iam_oidc_provider:arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
ROLE = "iam_role:payments-orders-deploy"
STAGING = "github_environment:acme/orders:staging"
PRODUCTION = "github_environment:acme/orders:production"
CI = "github_workflow:acme/orders:.github/workflows/ci.yml"
DEPLOY = "github_workflow:acme/orders:.github/workflows/deploy.yml"
REPOSITORY = RepositoryInfo(
    full_name="acme/orders",
    html_url="https://github.example/acme/orders",
    api_url="https://api.github.example/repos/acme/orders",
    default_branch="trunk",
    private=True,
    created=False,
    topics=["paved", "payments"],
)


def plan(repository: RepositoryInfo | None, production_reviewers: int = 1) -> Plan:
    return pipeline_plan(
        PipelineCreateRequest(
            service="orders", requester="dave", production_reviewers=production_reviewers
        ),
        CONTEXT,
        account_id=ACCOUNT,
        region="eu-west-1",
        cluster="paved-shared",
        github_org="acme",
        repository=repository,
    )


def test_alone_the_repository_is_given_as_github_has_it() -> None:
    alone = plan(REPOSITORY, production_reviewers=3)

    key = repository_key("acme", "orders")
    assert key == "github_repository:acme/orders"  # as github:repo:create names it
    assert alone.given == {key: given_repository(REPOSITORY)}
    assert alone.given[key].spec == {
        "default_branch": "trunk",
        "full_name": "acme/orders",
        "html_url": "https://github.example/acme/orders",
    }
    assert [[item.key for item in wave] for wave in alone.waves()] == [
        [OIDC, STAGING, PRODUCTION],
        [ROLE],
        [CI],
        [DEPLOY],
    ]
    assert alone.get(OIDC).shared and not alone.get(ROLE).shared
    assert alone.get(ROLE).depends_on == [OIDC]
    assert alone.get(STAGING).depends_on == [key] == alone.get(PRODUCTION).depends_on
    assert alone.get(DEPLOY).depends_on == [key, ROLE]
    assert alone.get(PRODUCTION).spec["reviewer_users"] == ["carol", "dave"]
    role = alone.get(ROLE).spec
    statements = {s["Sid"]: s for s in role["inline_policies"]["paved-deploy"]["Statement"]}
    assert statements["PassTaskExecutionRole"]["Resource"] == (
        f"arn:aws:iam::{ACCOUNT}:role/payments-orders-task"
    )
    assert statements["EcsDeployService"]["Resource"] == (
        f"arn:aws:ecs:eu-west-1:{ACCOUNT}:service/paved-shared/payments-orders-app"
    )


def test_without_the_repository_it_is_a_part_a_union_completes() -> None:
    part = plan(None)

    key = repository_key("acme", "orders")
    assert part.given == {}
    with pytest.raises(ValueError, match="unplanned"):
        Plan.model_validate(part.model_dump())  # alone, it cannot be applied
    repository = PlannedResource(
        ref=ResourceRef(
            service="orders", provider=Provider.GITHUB, kind="github_repository", name="acme/orders"
        ),
        spec={},
    )
    repo_part = Plan(action="github:repo:create", service="orders", resources=[repository])

    both = union("service:create", "orders", [repo_part, part])

    assert [[item.key for item in wave] for wave in both.waves()] == [
        [key, OIDC],
        [ROLE, STAGING, PRODUCTION],
        [CI],
        [DEPLOY],
    ]
    assert both.claims == [
        "service:create:orders",
        "github:repo:create:orders",
        "github:pipeline:create:orders",
    ]
    shown = render(both, region="eu-west-1", owner="carol", team="payments", tags=CONTEXT.tags)
    assert "shared by every service" in shown


def test_a_bad_repository_name_stops_the_plan() -> None:
    odd = REPOSITORY.model_copy(update={"full_name": "no-slash"})
    with pytest.raises(InvalidPolicyDocument, match="org/repo"):
        plan(odd)
