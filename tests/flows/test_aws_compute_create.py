"""`aws:compute:create` against moto and a real registry, in-process.

Settings and tags are checked with boto3 through the block's own clients; faults are
injected through the block's test seam (tests/flows/aws_faults.py), never by patching.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.exceptions import ParameterTypeError
from pydantic import ValidationError

from blocks import AwsAccount
from flows.actions.aws_compute_create import (
    FARGATE_SIZES,
    ComputeCreateRequest,
    ComputeCreateResult,
    aws_compute_create,
)
from registry import queries
from registry.db import make_engine, session_scope
from registry.errors import NotAuthorized, NotFound, PolicyViolation
from registry.models import ResourceStatus
from tests.flows.aws_faults import AwsFaults, installed

ORDERS = {"service": "orders", "requester": "dave"}
APP = "payments-orders-app"
LOG_GROUP = "/paved/payments/orders"
POLICY_TAGS = {
    "paved:service": "orders",
    "paved:team": "payments",
    "paved:owner": "carol",
    "paved:cost-center": "cc-200",
    "paved:managed-by": "paved",
}


def registry(url: str) -> Any:
    return session_scope(make_engine(url))


@pytest.fixture
def orders(paved_blocks: None, registry_url: str) -> None:
    """The existing service `orders` of team payments, owned by carol; the blocks saved.

    (Not a module-wide mark: the request-model tests need no servers.)"""
    with registry(registry_url) as session:
        queries.get_or_create_service(session, name="orders", team="payments", owner="carol")


@pytest.fixture
def faults() -> Iterator[AwsFaults]:
    yield from installed()


def run(request: dict[str, Any]) -> Any:
    return aws_compute_create(request=request, return_state=True)


def revisions(account: AwsAccount) -> list[str]:
    arns: list[str] = account.get_client("ecs").list_task_definitions(familyPrefix=APP)[
        "taskDefinitionArns"
    ]
    return arns


def test_creates_a_private_fargate_service_owned_tagged_and_converges(
    aws_account: AwsAccount, registry_url: str, orders: None
) -> None:
    state = run({**ORDERS, "size": "medium", "desired_count": 2, "container_port": 9000})

    assert state.is_completed(), state.message
    result = state.result()
    assert isinstance(result, ComputeCreateResult)
    assert sorted(result.created) == sorted([APP, APP, APP, LOG_GROUP])

    ecr = aws_account.get_client("ecr")
    repo = ecr.describe_repositories(repositoryNames=[APP])["repositories"][0]
    assert repo["imageScanningConfiguration"]["scanOnPush"] is True
    assert repo["imageTagMutability"] == "IMMUTABLE"
    ecr_tags = ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"])["tags"]
    assert {t["Key"]: t["Value"] for t in ecr_tags} == POLICY_TAGS
    assert result.image == f"{repo['repositoryUri']}:latest"

    logs = aws_account.get_client("logs")
    group = logs.describe_log_groups(logGroupNamePrefix=LOG_GROUP)["logGroups"][0]
    assert group["retentionInDays"] == 30
    log_arn = group["arn"].removesuffix(":*")
    assert logs.list_tags_for_resource(resourceArn=log_arn)["tags"] == POLICY_TAGS

    ecs = aws_account.get_client("ecs")
    found = ecs.describe_task_definition(taskDefinition=APP, include=["TAGS"])
    definition = found["taskDefinition"]
    assert (definition["cpu"], definition["memory"]) == tuple(map(str, FARGATE_SIZES["medium"]))
    assert definition["networkMode"] == "awsvpc"
    assert definition["requiresCompatibilities"] == ["FARGATE"]
    container = definition["containerDefinitions"][0]
    assert container["image"] == result.image
    assert container["portMappings"][0]["containerPort"] == 9000
    assert container["logConfiguration"]["logDriver"] == "awslogs"
    assert container["logConfiguration"]["options"]["awslogs-group"] == LOG_GROUP
    assert {t["key"]: t["value"] for t in found["tags"]} == POLICY_TAGS

    service = ecs.describe_services(cluster="paved-shared", services=[APP])["services"][0]
    assert service["launchType"] == "FARGATE" and service["desiredCount"] == 2
    assert service["taskDefinition"] == definition["taskDefinitionArn"]
    network = service["networkConfiguration"]["awsvpcConfiguration"]
    assert network["assignPublicIp"] == "DISABLED"
    vpc_subnets = aws_account.get_client("ec2").describe_subnets()["Subnets"]
    assert set(network["subnets"]) == {s["SubnetId"] for s in vpc_subnets}
    assert len(network["securityGroups"]) == 1
    service_tags = ecs.list_tags_for_resource(resourceArn=service["serviceArn"])["tags"]
    assert {t["key"]: t["value"] for t in service_tags} == POLICY_TAGS

    expected = {
        ("ecr_repository", APP): (repo["repositoryArn"], repo["repositoryUri"]),
        ("cloudwatch_log_group", LOG_GROUP): (log_arn, None),
        ("ecs_task_definition", APP): (definition["taskDefinitionArn"], None),
        ("ecs_service", APP): (service["serviceArn"], None),
    }
    with registry(registry_url) as session:
        resources = queries.find_resources(session, service="orders")
        assert {(r.kind, r.name): (r.external_id, r.url) for r in resources} == expected
        assert all(r.status == ResourceStatus.ACTIVE and r.tags == POLICY_TAGS for r in resources)
        owner = queries.ownership_of(session, thing=service["serviceArn"])
        assert owner is not None and (owner.service, owner.owner) == ("orders", "carol")
        dependencies = queries.dependencies_of(session, service="orders")
        assert {d.depends_on_resource for d in dependencies} == {
            ("aws", kind, name) for kind, name in expected
        }

    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(state.state_details.flow_run_id)
    assert flow_run.name == "create-compute/payments/orders"
    assert {"action:aws:compute:create", "team:payments", "service:orders"} <= set(flow_run.tags)

    # The same request again: no new revision, no change. (One test: each run costs seconds.)
    before = revisions(aws_account)

    state = run({**ORDERS, "size": "medium", "desired_count": 2, "container_port": 9000})

    assert state.is_completed(), state.message
    result = state.result()
    assert result.created == [] and result.changes == [] and len(result.unchanged) == 4
    assert revisions(aws_account) == before

    state = run({**ORDERS, "size": "large", "desired_count": 3})

    assert state.is_completed(), state.message
    assert len(revisions(aws_account)) == len(before) + 1
    service = aws_account.get_client("ecs").describe_services(
        cluster="paved-shared", services=[APP]
    )["services"][0]
    assert service["desiredCount"] == 3 and service["taskDefinition"].endswith(f"{APP}:2")
    with registry(registry_url) as session:
        resources = {r.kind: r for r in queries.find_resources(session, service="orders")}
        assert len(resources) == 4
        assert resources["ecs_task_definition"].external_id == service["taskDefinition"]
        assert resources["ecs_task_definition"].spec["size"] == "large"


def test_dry_run_touches_nothing(aws_account: AwsAccount, registry_url: str, orders: None) -> None:
    state = run({**ORDERS, "dry_run": True})

    assert state.is_completed(), state.message
    assert state.result().dry_run
    assert aws_account.get_client("ecr").describe_repositories()["repositories"] == []
    assert aws_account.get_client("ecs").list_clusters()["clusterArns"] == []
    assert revisions(aws_account) == []
    with registry(registry_url) as session:
        assert queries.find_resources(session, service="orders") == []


# (change, the error's class, what it says): the class shows which check refused the run.
BAD_RUNS: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"region": "ap-south-1"}, PolicyViolation, "region 'ap-south-1' is not allowed"),
    ({"service": "ghost"}, NotFound, "no service 'ghost'"),
    ({"requester": "erin"}, NotAuthorized, "'erin' is not a member"),
    ({"size": "huge"}, ParameterTypeError, "request.size: Input should be"),
]


def test_bad_requests_fail_before_any_call(
    aws_account: AwsAccount, registry_url: str, orders: None, faults: AwsFaults
) -> None:
    for change, error, says in BAD_RUNS:
        state = run({**ORDERS, **change})

        assert state.type == StateType.FAILED, change
        with pytest.raises(error, match=says):
            state.result()
    assert sum(faults.calls.values()) == 0, "no AWS call at all"
    with registry(registry_url) as session:
        assert queries.find_resources(session, service="orders") == []


BAD_FIELDS = {
    "size": ({"size": "xl"}, "'small', 'medium' or 'large'"),
    "desired count": ({"desired_count": 11}, "less than or equal to 10"),
    "negative count": ({"desired_count": -1}, "greater than or equal to 0"),
    "port zero": ({"container_port": 0}, "greater than or equal to 1"),
    "port high": ({"container_port": 65536}, "less than or equal to 65535"),
    "retention": ({"log_retention_days": 31}, "31 days is not one CloudWatch accepts"),
    "service name": ({"service": "or_ders"}, "service name 'or_ders'"),
    "unknown field": ({"memory": 4096}, "Extra inputs are not permitted"),
}


@pytest.mark.parametrize(("change", "says"), BAD_FIELDS.values(), ids=BAD_FIELDS.keys())
def test_bad_fields_are_refused_by_the_form(change: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        ComputeCreateRequest(**{**ORDERS, **change})


def test_request_model_describes_every_field() -> None:
    schema = ComputeCreateRequest.model_json_schema()
    assert schema["additionalProperties"] is False
    for name, field in schema["properties"].items():
        assert field.get("description"), f"{name} has no description"
    assert 30 in schema["properties"]["log_retention_days"]["enum"]


def test_throttling_is_retried_and_the_run_succeeds(
    aws_account: AwsAccount, registry_url: str, orders: None, faults: AwsFaults
) -> None:
    # 4 in a row outlast botocore's 3 attempts: Paved's task retry takes the last.
    faults.add("ecs.RegisterTaskDefinition", status=400, code="ThrottlingException", times=4)
    faults.add("ecr.CreateRepository", status=503, code="ServiceUnavailable", times=1)

    state = run(ORDERS)

    assert state.is_completed(), state.message
    assert faults.calls["ecs.RegisterTaskDefinition"] == 5
    assert len(revisions(aws_account)) == 1
    with registry(registry_url) as session:
        resources = queries.find_resources(session, service="orders")
        assert [r.status for r in resources] == [ResourceStatus.ACTIVE] * 4


def test_permanent_fault_fails_fast_and_rerun_converges(
    aws_account: AwsAccount, registry_url: str, orders: None, faults: AwsFaults
) -> None:
    faults.add("ecs.CreateService", status=400, code="AccessDeniedException", times=100)

    state = run(ORDERS)

    assert state.type == StateType.FAILED
    with pytest.raises(
        Exception, match=f"aws ensure ECS service failed for {APP}: AccessDeniedException"
    ):
        state.result()
    assert faults.calls["ecs.CreateService"] == 1, "an access error is not retried"
    with registry(registry_url) as session:
        status = {
            r.kind: (r.status, r.error or "")
            for r in queries.find_resources(session, service="orders")
        }
        assert status["ecs_service"][0] == ResourceStatus.FAILED
        assert "AccessDeniedException" in status["ecs_service"][1]
        assert status["ecs_task_definition"][0] == ResourceStatus.ACTIVE

    faults.clear()
    state = run(ORDERS)

    assert state.is_completed(), state.message
    result = state.result()
    assert result.created == [APP] and len(result.unchanged) == 3
    assert len(revisions(aws_account)) == 1
    with registry(registry_url) as session:
        resources = queries.find_resources(session, service="orders")
        assert [(r.status, r.error) for r in resources] == [(ResourceStatus.ACTIVE, None)] * 4
