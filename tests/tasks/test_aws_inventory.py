"""The AWS drift inventory and its remediation against the session's moto (extended by
sandbox.moto_ext, as `paved up` runs it): what Paved made is listed with the registry's
spec keys and tags, drift made behind Paved's back shows, the budget of one call per 50
resources holds, throttling is retried inside the calls, and restoring is idempotent.
Faults are injected through the block's seam (tests/flows/aws_faults.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from blocks.aws import AwsAccount
from tasks.audit import Observed, ProviderInventory
from tasks.audit.aws_inventory import KINDS, list_aws_resources
from tasks.audit.aws_remediate import restore_aws_resource
from tasks.aws.compute import (
    default_security_groups,
    default_subnets,
    ensure_cluster,
    ensure_ecr_repository,
    ensure_log_group,
    ensure_service,
    ensure_task_definition,
)
from tasks.aws.iam import ensure_deploy_role
from tasks.aws.storage import ensure_bucket, ensure_queue_with_dlq, ensure_table
from tasks.errors import PermanentProviderError
from tests.flows.aws_faults import AwsFaults, installed

TAGS = {
    "paved:service": "orders",
    "paved:team": "payments",
    "paved:owner": "alice",
    "paved:cost-center": "cc-42",
    "paved:managed-by": "paved",
}
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {
                "Federated": "arn:aws:iam::123456789012:oidc-provider/"
                "token.actions.githubusercontent.com"
            },
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
                "StringLike": {"token.actions.githubusercontent.com:sub": "repo:acme/orders:*"},
            },
        }
    ],
}
PERMISSIONS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"}],
}
# The registry's declared specs, as the storage and compute actions write them.
DECLARED: dict[tuple[str, str], dict[str, Any]] = {
    ("s3_bucket", "payments-orders-data"): {
        "region": "us-east-1",
        "versioning": True,
        "encryption": "AES256",
        "public_access": "blocked",
    },
    ("sqs_queue", "payments-orders-jobs"): {
        "region": "us-east-1",
        "visibility_timeout_seconds": 30,
        "message_retention_days": 4,
        "max_receive_count": 5,
        "dead_letter_queue": "payments-orders-jobs-dlq",
    },
    ("sqs_queue", "payments-orders-jobs-dlq"): {
        "region": "us-east-1",
        "message_retention_days": 14,
        "dead_letter_queue_of": "payments-orders-jobs",
    },
    ("dynamodb_table", "payments-orders-state"): {
        "region": "us-east-1",
        "billing_mode": "PAY_PER_REQUEST",
        "partition_key": "pk",
        "sort_key": None,
    },
    ("ecr_repository", "payments-orders-app"): {
        "region": "us-east-1",
        "image_tag_mutability": "IMMUTABLE",
        "scan_on_push": True,
    },
    ("cloudwatch_log_group", "/paved/payments/orders"): {
        "region": "us-east-1",
        "retention_days": 30,
    },
}


@pytest.fixture
def faults() -> Iterator[AwsFaults]:
    yield from installed()


def provision(account: AwsAccount) -> dict[tuple[str, str], str]:
    """The golden path's AWS resources for payments/orders, made by Paved's own tasks;
    returns the external id the registry would hold for each (kind, name)."""
    ids: dict[tuple[str, str], str] = {}
    ids["s3_bucket", "payments-orders-data"] = ensure_bucket.fn(
        account, name="payments-orders-data", tags=TAGS
    ).arn
    pair = ensure_queue_with_dlq.fn(
        account,
        name="payments-orders-jobs",
        dlq_name="payments-orders-jobs-dlq",
        tags=TAGS,
        visibility_timeout=30,
        max_receive_count=5,
        message_retention_seconds=4 * 86400,
    )
    ids["sqs_queue", "payments-orders-jobs"] = pair.queue.arn
    ids["sqs_queue", "payments-orders-jobs-dlq"] = pair.dlq.arn
    ids["dynamodb_table", "payments-orders-state"] = ensure_table.fn(
        account, name="payments-orders-state", partition_key="pk", tags=TAGS
    ).arn
    ids["ecr_repository", "payments-orders-app"] = ensure_ecr_repository.fn(
        account, name="payments-orders-app", tags=TAGS
    ).arn
    ids["cloudwatch_log_group", "/paved/payments/orders"] = ensure_log_group.fn(
        account, name="/paved/payments/orders", retention_days=30, tags=TAGS
    ).arn
    cluster = ensure_cluster.fn(account)
    definition = ensure_task_definition.fn(
        account,
        family="payments-orders-app",
        image="registry.example/orders:latest",
        cpu=256,
        memory=512,
        container_port=8080,
        log_group="/paved/payments/orders",
        region="us-east-1",
        tags=TAGS,
    )
    subnets = default_subnets.fn(account)
    ids["ecs_service", "payments-orders-app"] = ensure_service.fn(
        account,
        cluster=cluster.name,
        name="payments-orders-app",
        task_definition_arn=definition.arn,
        desired_count=1,
        subnets=subnets,
        security_groups=default_security_groups.fn(account, subnets=subnets),
        tags=TAGS,
    ).arn
    ids["iam_role", "payments-orders-deploy"] = ensure_deploy_role.fn(
        account,
        name="payments-orders-deploy",
        trust_policy=TRUST,
        permissions_policy=PERMISSIONS,
        tags=TAGS,
    ).arn
    return ids


def by_key(inventory: ProviderInventory) -> dict[tuple[str, str], Observed]:
    return {(item.kind, item.name): item for item in inventory.resources}


def declared_of(item: Observed) -> dict[str, Any]:
    """The settings the registry declares for `item` (the region is the inventory's)."""
    declared = DECLARED.get((item.kind, item.name), {})
    return {key: value for key, value in declared.items() if key != "region"}


def test_lists_what_paved_made_under_the_registry_keys(account: AwsAccount) -> None:
    ids = provision(account)

    inventory = list_aws_resources(account)

    assert inventory.provider == "aws" and inventory.kinds == list(KINDS)
    assert inventory.notes == []
    assert {(i.kind, i.name): i.external_id for i in inventory.resources} == ids
    for item in inventory.resources:
        assert item.tags == TAGS, item.name
        # Every setting the registry declares is observed with the declared value.
        declared = declared_of(item)
        assert {k: item.settings.get(k) for k in declared} == declared, item.name
    assert (
        by_key(inventory)["sqs_queue", "payments-orders-jobs"].settings["dead_letter_queue_of"]
        is None
    )


def test_describing_gives_the_same_settings_at_one_call_a_resource(account: AwsAccount) -> None:
    provision(account)

    batched = list_aws_resources(account, settings_source="config")
    described = list_aws_resources(account, settings_source="describe")

    assert described.resources == batched.resources
    assert described.calls > batched.calls
    assert len(described.notes) == 1
    assert "4 buckets, queues and tables read one resource at a time" in described.notes[0]


def test_drift_made_outside_paved_shows(account: AwsAccount) -> None:
    provision(account)
    s3 = account.get_client("s3")
    s3.create_bucket(Bucket="someone-elses-bucket")
    s3.delete_bucket_encryption(Bucket="payments-orders-data")
    s3.delete_public_access_block(Bucket="payments-orders-data")
    s3.put_bucket_versioning(
        Bucket="payments-orders-data", VersioningConfiguration={"Status": "Suspended"}
    )
    sqs = account.get_client("sqs")
    url = sqs.get_queue_url(QueueName="payments-orders-jobs")["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "99"})
    sqs.untag_queue(QueueUrl=url, TagKeys=["paved:owner"])
    account.get_client("logs").put_retention_policy(
        logGroupName="/paved/payments/orders", retentionInDays=7
    )
    account.get_client("ecr").put_image_tag_mutability(
        repositoryName="payments-orders-app", imageTagMutability="MUTABLE"
    )
    account.get_client("iam").untag_role(RoleName="payments-orders-deploy", TagKeys=["paved:team"])

    found = by_key(list_aws_resources(account))

    assert found["s3_bucket", "someone-elses-bucket"].tags == {}
    assert found["s3_bucket", "payments-orders-data"].settings == {
        "public_access": "open",
        "encryption": None,
        "versioning": False,
    }
    jobs = found["sqs_queue", "payments-orders-jobs"]
    assert jobs.settings["visibility_timeout_seconds"] == 99
    assert "paved:owner" not in (jobs.tags or {})
    assert found["cloudwatch_log_group", "/paved/payments/orders"].settings == {"retention_days": 7}
    assert (
        found["ecr_repository", "payments-orders-app"].settings["image_tag_mutability"] == "MUTABLE"
    )
    role_tags = found["iam_role", "payments-orders-deploy"].tags or {}
    assert role_tags == {k: v for k, v in TAGS.items() if k != "paved:team"}


def test_only_the_roles_paved_manages_are_listed(account: AwsAccount) -> None:
    iam = account.get_client("iam")
    document = json.dumps(TRUST)
    iam.create_role(RoleName="someone-elses-role", AssumeRolePolicyDocument=document)
    iam.create_role(
        RoleName="tagged-by-paved",
        AssumeRolePolicyDocument=document,
        Tags=[{"Key": "paved:managed-by", "Value": "paved"}],
    )
    iam.create_role(RoleName="untagged-deploy", AssumeRolePolicyDocument=document)
    iam.put_role_policy(
        RoleName="untagged-deploy",
        PolicyName="paved-deploy",
        PolicyDocument=json.dumps(PERMISSIONS),
    )
    iam.create_service_linked_role(AWSServiceName="ecs.amazonaws.com")

    roles = [i for i in list_aws_resources(account).resources if i.kind == "iam_role"]

    assert [(r.name, r.tags) for r in roles] == [
        ("tagged-by-paved", {"paved:managed-by": "paved"}),
        ("untagged-deploy", {}),
    ]


def test_a_missing_ecs_cluster_is_noted(account: AwsAccount) -> None:
    inventory = list_aws_resources(account)

    assert inventory.resources == []
    assert inventory.notes == ["ecs_service: the account's ECS cluster paved-shared does not exist"]


def _create_many(account: AwsAccount, count: int) -> None:
    """`count` resources of each kind, tagged as Paved tags them, made with plain calls."""
    tag_list = [{"Key": k, "Value": v} for k, v in TAGS.items()]
    clients = {s: account.get_client(s) for s in ("s3", "sqs", "dynamodb", "ecr", "logs", "iam")}
    ecs = account.get_client("ecs")
    ecs.create_cluster(clusterName=account.ecs_cluster)
    definition = ecs.register_task_definition(
        family="app", containerDefinitions=[{"name": "app", "image": "app:1", "memory": 128}]
    )["taskDefinition"]["taskDefinitionArn"]

    def one(index: int) -> None:
        name = f"payments-svc{index:04d}"
        clients["s3"].create_bucket(Bucket=f"{name}-data")
        clients["s3"].put_bucket_tagging(Bucket=f"{name}-data", Tagging={"TagSet": tag_list})
        clients["sqs"].create_queue(QueueName=f"{name}-jobs", tags=TAGS)
        clients["dynamodb"].create_table(
            TableName=f"{name}-state",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            Tags=tag_list,
        )
        clients["ecr"].create_repository(repositoryName=f"{name}-app", tags=tag_list)
        clients["logs"].create_log_group(logGroupName=f"/paved/payments/svc{index:04d}", tags=TAGS)
        ecs.create_service(
            cluster=account.ecs_cluster,
            serviceName=f"{name}-app",
            taskDefinition=definition,
            desiredCount=0,
            tags=[{"key": k, "value": v} for k, v in TAGS.items()],
        )
        clients["iam"].create_role(
            RoleName=f"{name}-deploy", AssumeRolePolicyDocument=json.dumps(TRUST), Tags=tag_list
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(one, range(count)))


def test_300_of_each_kind_cost_at_most_one_call_per_50(account: AwsAccount) -> None:
    _create_many(account, 300)

    inventory = list_aws_resources(account)

    kinds = [item.kind for item in inventory.resources]
    assert {kind: kinds.count(kind) for kind in KINDS} == dict.fromkeys(KINDS, 300)
    assert all(item.tags == TAGS for item in inventory.resources)
    assert inventory.calls <= len(inventory.resources) / 50


def test_throttling_is_retried_inside_the_calls_and_counted(
    account: AwsAccount, faults: AwsFaults
) -> None:
    provision(account)
    calm = list_aws_resources(account)
    faults.add("dynamodb.ListTables", status=400, code="ThrottlingException", times=2)
    faults.add("resource-groups-tagging-api.GetResources", status=400, code="ThrottlingException")
    faults.add("config-service.BatchGetResourceConfig", status=400, code="ThrottlingException")

    throttled = list_aws_resources(account)

    assert sum(faults.injected.values()) == 4
    assert throttled.resources == calm.resources
    assert throttled.calls == calm.calls + 4


def test_without_a_config_recorder_settings_are_described(
    account: AwsAccount, faults: AwsFaults
) -> None:
    provision(account)
    batched = list_aws_resources(account)
    faults.add(
        "config-service.BatchGetResourceConfig",
        status=400,
        code="NoAvailableConfigurationRecorderException",
    )

    described = list_aws_resources(account)

    assert described.resources == batched.resources
    assert "AWS Config is not recording" in described.notes[0]


def test_restoring_brings_each_kind_back_and_then_changes_nothing(account: AwsAccount) -> None:
    ids = provision(account)
    s3 = account.get_client("s3")
    s3.delete_bucket_encryption(Bucket="payments-orders-data")
    s3.delete_public_access_block(Bucket="payments-orders-data")
    s3.put_bucket_versioning(
        Bucket="payments-orders-data", VersioningConfiguration={"Status": "Suspended"}
    )
    s3.delete_bucket_tagging(Bucket="payments-orders-data")
    sqs = account.get_client("sqs")
    for name in ("payments-orders-jobs", "payments-orders-jobs-dlq"):
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        sqs.set_queue_attributes(
            QueueUrl=url,
            Attributes={
                "VisibilityTimeout": "99",
                "MessageRetentionPeriod": "60",
                "RedrivePolicy": "",
            },
        )
    account.get_client("dynamodb").update_table(
        TableName="payments-orders-state",
        BillingMode="PROVISIONED",
        ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
    )
    ecr = account.get_client("ecr")
    ecr.put_image_tag_mutability(repositoryName="payments-orders-app", imageTagMutability="MUTABLE")
    ecr.put_image_scanning_configuration(
        repositoryName="payments-orders-app", imageScanningConfiguration={"scanOnPush": False}
    )
    account.get_client("logs").put_retention_policy(
        logGroupName="/paved/payments/orders", retentionInDays=7
    )
    account.get_client("ecs").untag_resource(
        resourceArn=ids["ecs_service", "payments-orders-app"], tagKeys=["paved:owner"]
    )
    account.get_client("iam").untag_role(RoleName="payments-orders-deploy", TagKeys=["paved:team"])
    drifted = list_aws_resources(account).resources

    for item in drifted:
        declared = DECLARED.get((item.kind, item.name), {})
        changes = restore_aws_resource(
            account,
            kind=item.kind,
            name=item.name,
            external_id=item.external_id,
            declared=declared,
            declared_tags=TAGS,
        )
        assert changes and not any(c.startswith("not restored") for c in changes), item.name
        again = restore_aws_resource(
            account,
            kind=item.kind,
            name=item.name,
            external_id=item.external_id,
            declared=declared,
            declared_tags=TAGS,
        )
        assert again == [], item.name

    for item in list_aws_resources(account).resources:
        assert item.tags == TAGS, item.name
        declared = declared_of(item)
        assert {k: item.settings.get(k) for k in declared} == declared, item.name


def test_restoring_reports_what_it_cannot_do_and_creates_nothing(account: AwsAccount) -> None:
    ensure_table.fn(account, name="payments-orders-state", partition_key="id", tags=TAGS)
    arn = "arn:aws:s3:::payments-orders-data"

    gone = restore_aws_resource(
        account,
        kind="s3_bucket",
        name="payments-orders-data",
        external_id=arn,
        declared=DECLARED["s3_bucket", "payments-orders-data"],
        declared_tags=TAGS,
    )
    table = restore_aws_resource(
        account,
        kind="dynamodb_table",
        name="payments-orders-state",
        external_id="arn:aws:dynamodb:us-east-1:123456789012:table/payments-orders-state",
        declared=DECLARED["dynamodb_table", "payments-orders-state"],
        declared_tags={},
    )

    assert gone == ["not restored: s3_bucket payments-orders-data does not exist"]
    assert account.get_client("s3").list_buckets()["Buckets"] == []
    assert table == [
        "not restored: partition_key of table payments-orders-state is id, declared pk; "
        "keys cannot change after creation"
    ]
    with pytest.raises(PermanentProviderError, match="unknown kind 'sns_topic'"):
        restore_aws_resource(
            account, kind="sns_topic", name="t", external_id="arn", declared={}, declared_tags={}
        )
