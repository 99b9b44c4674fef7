"""Never adopt: every AWS get-or-create refuses a resource that exists and is not tagged
`paved:service=<this service>`, names it with its tags, and leaves it exactly as it was.

Each resource is made beforehand with boto3 against moto, untagged or tagged for another
service, as a person or another team would have made it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from blocks.aws import AwsAccount
from registry.policy import TAG_SERVICE
from tasks.aws import SERVICE_TAG
from tasks.aws.compute import (
    ensure_ecr_repository,
    ensure_log_group,
    ensure_service,
    ensure_task_definition,
)
from tasks.aws.iam import ensure_deploy_role
from tasks.aws.storage import ensure_bucket, ensure_queue_with_dlq, ensure_table
from tasks.aws.tagging import read_tags_by_name
from tasks.errors import PermanentProviderError, ResourceConflict
from tests.servers import moto_account

OURS = {"paved:service": "orders", "paved:team": "payments"}
THEIRS = {"paved:service": "billing", "paved:team": "finance"}
ACCOUNT_ID = "123456789012"
OIDC = "token.actions.githubusercontent.com"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{OIDC}"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {
                    f"{OIDC}:aud": "sts.amazonaws.com",
                    f"{OIDC}:sub": "repo:acme/orders:environment:production",
                }
            },
        }
    ],
}
PERMISSIONS = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["ecr:GetAuthorizationToken"],
            "Resource": "*",
        }
    ],
}


def test_the_tag_key_is_the_policys() -> None:
    assert SERVICE_TAG == TAG_SERVICE


# --- each kind: (make it with boto3, read its tags, call Paved's ensure) ---------------


def _make_bucket(account: AwsAccount, tags: dict[str, str]) -> None:
    s3 = account.get_client("s3")
    s3.create_bucket(Bucket="payments-orders-data")
    if tags:
        s3.put_bucket_tagging(
            Bucket="payments-orders-data",
            Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]},
        )


def _bucket_state(account: AwsAccount) -> Any:
    s3 = account.get_client("s3")
    try:
        tags = s3.get_bucket_tagging(Bucket="payments-orders-data")["TagSet"]
    except s3.exceptions.ClientError:
        tags = []
    versioning = s3.get_bucket_versioning(Bucket="payments-orders-data").get("Status")
    return {t["Key"]: t["Value"] for t in tags}, versioning


def _ensure_bucket(account: AwsAccount) -> None:
    ensure_bucket.fn(account, name="payments-orders-data", tags=OURS)


def _make_queue(account: AwsAccount, tags: dict[str, str]) -> None:
    account.get_client("sqs").create_queue(QueueName="payments-orders-jobs-dlq", tags=tags)


def _queue_state(account: AwsAccount) -> Any:
    sqs = account.get_client("sqs")
    url = sqs.get_queue_url(QueueName="payments-orders-jobs-dlq")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return sqs.list_queue_tags(QueueUrl=url).get("Tags", {}), attributes["MessageRetentionPeriod"]


def _ensure_queue(account: AwsAccount) -> None:
    ensure_queue_with_dlq.fn(
        account,
        name="payments-orders-jobs",
        dlq_name="payments-orders-jobs-dlq",
        tags=OURS,
        visibility_timeout=30,
        max_receive_count=5,
        message_retention_seconds=3600,
    )


def _make_table(account: AwsAccount, tags: dict[str, str]) -> None:
    params: dict[str, Any] = {
        "TableName": "payments-orders-state",
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "BillingMode": "PROVISIONED",
        "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
    }
    if tags:
        params["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    account.get_client("dynamodb").create_table(**params)


def _table_state(account: AwsAccount) -> Any:
    dynamodb = account.get_client("dynamodb")
    table = dynamodb.describe_table(TableName="payments-orders-state")["Table"]
    tags = dynamodb.list_tags_of_resource(ResourceArn=table["TableArn"]).get("Tags", [])
    billing = table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    return {t["Key"]: t["Value"] for t in tags}, billing


def _ensure_table(account: AwsAccount) -> None:
    ensure_table.fn(account, name="payments-orders-state", partition_key="pk", tags=OURS)


def _make_ecr(account: AwsAccount, tags: dict[str, str]) -> None:
    account.get_client("ecr").create_repository(
        repositoryName="payments-orders-app",
        imageTagMutability="MUTABLE",
        tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )


def _ecr_state(account: AwsAccount) -> Any:
    ecr = account.get_client("ecr")
    repo = ecr.describe_repositories(repositoryNames=["payments-orders-app"])["repositories"][0]
    tags = ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"]).get("tags", [])
    return {t["Key"]: t["Value"] for t in tags}, repo["imageTagMutability"]


def _ensure_ecr(account: AwsAccount) -> None:
    ensure_ecr_repository.fn(account, name="payments-orders-app", tags=OURS)


def _make_log_group(account: AwsAccount, tags: dict[str, str]) -> None:
    logs = account.get_client("logs")
    logs.create_log_group(logGroupName="/paved/payments/orders", **({"tags": tags} if tags else {}))


def _log_group_state(account: AwsAccount) -> Any:
    logs = account.get_client("logs")
    group = logs.describe_log_groups(logGroupNamePrefix="/paved/payments/orders")["logGroups"][0]
    arn = str(group["arn"]).removesuffix(":*")
    return logs.list_tags_for_resource(resourceArn=arn).get("tags", {}), group.get(
        "retentionInDays"
    )


def _ensure_log_group(account: AwsAccount) -> None:
    ensure_log_group.fn(account, name="/paved/payments/orders", retention_days=30, tags=OURS)


_CONTAINER = {"name": "app", "image": "someone/else:1", "essential": True, "memory": 512}


def _make_task_definition(account: AwsAccount, tags: dict[str, str]) -> None:
    account.get_client("ecs").register_task_definition(
        family="payments-orders-app",
        containerDefinitions=[_CONTAINER],
        **({"tags": [{"key": k, "value": v} for k, v in tags.items()]} if tags else {}),
    )


def _task_definition_state(account: AwsAccount) -> Any:
    ecs = account.get_client("ecs")
    arns = ecs.list_task_definitions(familyPrefix="payments-orders-app")["taskDefinitionArns"]
    found = ecs.describe_task_definition(taskDefinition="payments-orders-app", include=["TAGS"])
    return arns, {t["key"]: t["value"] for t in found.get("tags", [])}


def _ensure_task_definition(account: AwsAccount) -> None:
    ensure_task_definition.fn(
        account,
        family="payments-orders-app",
        image="acme/orders:1",
        cpu=256,
        memory=512,
        container_port=8080,
        log_group="/paved/payments/orders",
        region="us-east-1",
        tags=OURS,
    )


def _make_ecs_service(account: AwsAccount, tags: dict[str, str]) -> None:
    ecs = account.get_client("ecs")
    ecs.create_cluster(clusterName=account.ecs_cluster)
    definition = ecs.register_task_definition(
        family="someone-else", containerDefinitions=[_CONTAINER]
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(
        cluster=account.ecs_cluster,
        serviceName="payments-orders-app",
        taskDefinition=definition,
        desiredCount=2,
        **({"tags": [{"key": k, "value": v} for k, v in tags.items()]} if tags else {}),
    )


def _ecs_service_state(account: AwsAccount) -> Any:
    ecs = account.get_client("ecs")
    service = ecs.describe_services(cluster=account.ecs_cluster, services=["payments-orders-app"])[
        "services"
    ][0]
    tags = ecs.list_tags_for_resource(resourceArn=service["serviceArn"]).get("tags", [])
    return {t["key"]: t["value"] for t in tags}, service["desiredCount"], service["taskDefinition"]


def _ensure_ecs_service(account: AwsAccount) -> None:
    ensure_service.fn(
        account,
        cluster=account.ecs_cluster,
        name="payments-orders-app",
        task_definition_arn="arn:aws:ecs:us-east-1:123456789012:task-definition/x:1",
        desired_count=1,
        subnets=["subnet-1"],
        security_groups=["sg-1"],
        tags=OURS,
    )


def _make_role(account: AwsAccount, tags: dict[str, str]) -> None:
    account.get_client("iam").create_role(
        RoleName="payments-orders-deploy",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )


def _role_state(account: AwsAccount) -> Any:
    iam = account.get_client("iam")
    role = iam.get_role(RoleName="payments-orders-deploy")["Role"]
    tags = iam.list_role_tags(RoleName="payments-orders-deploy").get("Tags", [])
    policies = iam.list_role_policies(RoleName="payments-orders-deploy")["PolicyNames"]
    return {t["Key"]: t["Value"] for t in tags}, role["AssumeRolePolicyDocument"], policies


def _ensure_role(account: AwsAccount) -> None:
    ensure_deploy_role.fn(
        account,
        name="payments-orders-deploy",
        trust_policy=TRUST,
        permissions_policy=PERMISSIONS,
        tags=OURS,
    )


Make = Callable[[AwsAccount, dict[str, str]], None]
State = Callable[[AwsAccount], Any]
Ensure = Callable[[AwsAccount], None]
KINDS: dict[str, tuple[Make, State, Ensure, str]] = {
    "s3 bucket": (_make_bucket, _bucket_state, _ensure_bucket, "S3 bucket payments-orders-data"),
    "sqs queue": (
        _make_queue,
        _queue_state,
        _ensure_queue,
        "SQS queue payments-orders-jobs-dlq",
    ),
    "dynamodb table": (
        _make_table,
        _table_state,
        _ensure_table,
        "DynamoDB table payments-orders-state",
    ),
    "ecr repository": (_make_ecr, _ecr_state, _ensure_ecr, "ECR repository payments-orders-app"),
    "log group": (
        _make_log_group,
        _log_group_state,
        _ensure_log_group,
        "log group /paved/payments/orders",
    ),
    "task definition family": (
        _make_task_definition,
        _task_definition_state,
        _ensure_task_definition,
        "task definition family payments-orders-app",
    ),
    "ecs service": (
        _make_ecs_service,
        _ecs_service_state,
        _ensure_ecs_service,
        "ECS service payments-orders-app",
    ),
    "iam role": (_make_role, _role_state, _ensure_role, "IAM role payments-orders-deploy"),
}


@pytest.mark.parametrize("owner", ["untagged", "another service"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_an_existing_resource_that_is_not_ours_is_refused_and_left_alone(
    account: AwsAccount, kind: str, owner: str
) -> None:
    make, state, ensure, named = KINDS[kind]
    tags = {} if owner == "untagged" else THEIRS
    make(account, tags)
    before = state(account)

    with pytest.raises(ResourceConflict) as caught:
        ensure(account)

    message = str(caught.value)
    assert f"{named} exists and is not tagged paved:service=orders" in message
    expected_tags = (
        "no tags" if owner == "untagged" else "paved:service=billing, paved:team=finance"
    )
    assert f"its tags: {expected_tags}" in message
    assert isinstance(caught.value, PermanentProviderError)  # not retried
    assert state(account) == before


def test_a_resource_tagged_for_this_service_is_converged(account: AwsAccount) -> None:
    # The other side of the rule: what a previous run of this service made is ours.
    _make_ecr(account, OURS)
    _ensure_ecr(account)
    assert _ecr_state(account) == (OURS, "IMMUTABLE")


# --- reading tags by name (what clean-up and decommission ask before removing) --------

BY_REGISTRY_KIND: dict[str, tuple[Make, str]] = {
    "s3_bucket": (_make_bucket, "payments-orders-data"),
    "sqs_queue": (_make_queue, "payments-orders-jobs-dlq"),
    "dynamodb_table": (_make_table, "payments-orders-state"),
    "ecr_repository": (_make_ecr, "payments-orders-app"),
    "cloudwatch_log_group": (_make_log_group, "/paved/payments/orders"),
    "ecs_task_definition": (_make_task_definition, "payments-orders-app"),
    "ecs_service": (_make_ecs_service, "payments-orders-app"),
    "iam_role": (_make_role, "payments-orders-deploy"),
}


@pytest.mark.parametrize("kind", sorted(BY_REGISTRY_KIND))
def test_tags_are_read_by_name_and_a_missing_resource_reads_none(
    account: AwsAccount, kind: str
) -> None:
    make, name = BY_REGISTRY_KIND[kind]
    assert read_tags_by_name.fn(account, kind=kind, name=name) is None

    make(account, THEIRS)

    assert read_tags_by_name.fn(account, kind=kind, name=name) == THEIRS


def test_tags_are_read_in_the_region_asked(moto_url: str) -> None:
    account = moto_account(moto_url, allowed_regions=["us-east-1", "eu-west-1"])
    _make_ecr(account.in_region("eu-west-1"), OURS)

    assert read_tags_by_name.fn(account, kind="ecr_repository", name="payments-orders-app") is None
    found = read_tags_by_name.fn(
        account.in_region("eu-west-1"), kind="ecr_repository", name="payments-orders-app"
    )
    assert found == OURS
