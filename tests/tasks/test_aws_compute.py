"""Compute and tagging tasks against moto, called as plain functions (`task.fn`)."""

from __future__ import annotations

import pytest

from blocks.aws import AwsAccount
from tasks.aws.compute import (
    default_security_groups,
    default_subnets,
    delete_ecr_repository,
    delete_log_group,
    delete_service,
    deregister_task_definitions,
    ensure_cluster,
    ensure_ecr_repository,
    ensure_log_group,
    ensure_service,
    ensure_task_definition,
)
from tasks.aws.storage import ensure_bucket, ensure_queue_with_dlq, ensure_table
from tasks.aws.tagging import retag
from tasks.errors import PermanentProviderError

TAGS = {"paved:service": "orders", "paved:owner": "carol"}
TASK = {
    "family": "p-orders-app",
    "image": "example/app:latest",
    "cpu": 256,
    "memory": 512,
    "container_port": 8080,
    "log_group": "/paved/p/orders",
    "region": "us-east-1",
    "tags": TAGS,
}


def test_task_definition_gets_a_revision_only_when_it_changes(account: AwsAccount) -> None:
    first = ensure_task_definition.fn(account, **TASK)
    same = ensure_task_definition.fn(account, **TASK)
    bigger = ensure_task_definition.fn(account, **{**TASK, "cpu": 512, "memory": 1024})

    assert (first.created, same.created, bigger.created) == (True, False, True)
    assert same.arn == first.arn and same.changes == []
    assert bigger.revision == first.revision + 1
    # A family that shares the prefix is not touched by the family's clean-up.
    other = ensure_task_definition.fn(account, **{**TASK, "family": "p-orders-app2"})
    assert sorted(deregister_task_definitions.fn(account, family="p-orders-app")) == sorted(
        [first.arn, bigger.arn]
    )
    assert deregister_task_definitions.fn(account, family="p-orders-app") == []
    assert deregister_task_definitions.fn(account, family="p-orders-app2") == [other.arn]


def test_service_follows_its_declaration_and_deletes(account: AwsAccount) -> None:
    cluster = ensure_cluster.fn(account)
    assert cluster.created and not ensure_cluster.fn(account).created
    subnets = default_subnets.fn(account)
    assert subnets and all(s.startswith("subnet-") for s in subnets)
    groups = default_security_groups.fn(account, subnets=subnets)
    assert len(groups) == 1 and groups[0].startswith("sg-")
    definition = ensure_task_definition.fn(account, **TASK)
    spec = {
        "cluster": cluster.name,
        "name": "p-orders-app",
        "task_definition_arn": definition.arn,
        "desired_count": 1,
        "subnets": subnets[:1],
        "security_groups": groups,
        "tags": TAGS,
    }
    created = ensure_service.fn(account, **spec)
    assert created.created
    assert ensure_service.fn(account, **spec).changes == []

    scaled = ensure_service.fn(account, **{**spec, "desired_count": 3})

    assert scaled.changes == ["updated desiredCount of ECS service p-orders-app"]
    ecs = account.get_client("ecs")
    service = ecs.describe_services(cluster=cluster.name, services=["p-orders-app"])["services"][0]
    assert service["desiredCount"] == 3
    assert delete_service.fn(account, cluster=cluster.name, name="p-orders-app") is True
    assert delete_service.fn(account, cluster=cluster.name, name="p-orders-app") is False


def test_configured_subnets_win_over_the_default_vpc(account: AwsAccount) -> None:
    configured = account.model_copy(update={"subnets": ["subnet-a", "subnet-b"]})
    assert default_subnets.fn(configured) == ["subnet-a", "subnet-b"]
    grouped = account.model_copy(update={"security_groups": ["sg-1"]})
    assert default_security_groups.fn(grouped, subnets=["subnet-a"]) == ["sg-1"]


def test_repository_and_log_group_converge_and_delete(account: AwsAccount) -> None:
    repo = ensure_ecr_repository.fn(account, name="p-orders-app", tags=TAGS)
    assert repo.created and repo.uri.endswith("/p-orders-app")
    ecr = account.get_client("ecr")
    ecr.put_image_tag_mutability(repositoryName="p-orders-app", imageTagMutability="MUTABLE")
    assert ensure_ecr_repository.fn(account, name="p-orders-app", tags=TAGS).changes == [
        "made image tags of p-orders-app immutable"
    ]
    group = ensure_log_group.fn(account, name="/paved/p/orders", retention_days=30, tags=TAGS)
    assert group.created and not group.arn.endswith(":*")
    again = ensure_log_group.fn(account, name="/paved/p/orders", retention_days=7, tags=TAGS)
    assert again.changes == ["set retention of /paved/p/orders to 7 days"]

    assert delete_ecr_repository.fn(account, name="p-orders-app") is True
    assert delete_ecr_repository.fn(account, name="p-orders-app") is False
    assert delete_log_group.fn(account, name="/paved/p/orders") is True
    assert delete_log_group.fn(account, name="/paved/p/orders") is False


def test_retag_changes_only_what_differs_on_every_kind(account: AwsAccount) -> None:
    bucket = ensure_bucket.fn(account, name="p-orders-data", tags=TAGS)
    queues = ensure_queue_with_dlq.fn(
        account,
        name="p-orders-jobs",
        dlq_name="p-orders-jobs-dlq",
        tags=TAGS,
        visibility_timeout=30,
        max_receive_count=5,
        message_retention_seconds=3600,
    )
    table = ensure_table.fn(account, name="p-orders-state", partition_key="pk", tags=TAGS)
    repo = ensure_ecr_repository.fn(account, name="p-orders-app", tags=TAGS)
    group = ensure_log_group.fn(account, name="/paved/p/orders", retention_days=30, tags=TAGS)
    definition = ensure_task_definition.fn(account, **TASK)
    cluster = ensure_cluster.fn(account)
    subnets = default_subnets.fn(account)
    service = ensure_service.fn(
        account,
        cluster=cluster.name,
        name="p-orders-app",
        task_definition_arn=definition.arn,
        desired_count=0,
        subnets=subnets,
        security_groups=default_security_groups.fn(account, subnets=subnets),
        tags=TAGS,
    )
    resources = [
        ("s3_bucket", bucket.name),
        ("sqs_queue", queues.queue.arn),
        ("sqs_queue", queues.dlq.url),
        ("dynamodb_table", table.arn),
        ("ecr_repository", repo.arn),
        ("cloudwatch_log_group", group.arn),
        ("ecs_task_definition", definition.arn),
        ("ecs_service", service.arn),
    ]
    moved = {**TAGS, "paved:owner": "dave"}

    changed = retag.fn(account, resources=resources, tags=moved)

    assert len(changed) == len(resources)
    assert all(line.endswith("set paved:owner") for line in changed)
    assert retag.fn(account, resources=resources, tags=moved) == []
    s3_tags = account.get_client("s3").get_bucket_tagging(Bucket=bucket.name)["TagSet"]
    assert {t["Key"]: t["Value"] for t in s3_tags} == moved
    ecr_tags = account.get_client("ecr").list_tags_for_resource(resourceArn=repo.arn)["tags"]
    assert {t["Key"]: t["Value"] for t in ecr_tags} == moved
    with pytest.raises(PermanentProviderError, match="unknown kind 'iam_role'"):
        retag.fn(account, resources=[("iam_role", "arn:aws:iam::1:role/x")], tags=moved)
