"""sandbox.moto_ext through the session's moto (launched by sandbox.launch.moto, so with
the extension): AWS Config items for queues, tables and buckets as boto3 parses them, and
ECR repositories in the Tagging API."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest

from paved.processes import process_cmdline
from sandbox.launch import moto
from sandbox.moto_ext import _config_key
from tests.conftest import free_port

TAGS = {"paved:service": "orders", "paved:team": "payments"}


@pytest.fixture
def aws(moto_url: str) -> Iterator[Any]:
    httpx.post(f"{moto_url}/moto-api/reset", timeout=10).raise_for_status()

    def client(service: str) -> Any:
        return boto3.client(
            service,
            region_name="us-east-1",
            endpoint_url=moto_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    yield client


def _items(aws: Any, keys: list[tuple[str, str]]) -> dict[str, dict[str, Any]]:
    answer = aws("config").batch_get_resource_config(
        resourceKeys=[{"resourceType": t, "resourceId": i} for t, i in keys]
    )
    assert answer["unprocessedResourceKeys"] == []
    return {item["resourceName"]: item for item in answer["baseConfigurationItems"]}


def test_queue_items_carry_the_queue_attributes(aws: Any) -> None:
    sqs = aws("sqs")
    dlq_url = sqs.create_queue(QueueName="orders-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})
    url = sqs.create_queue(
        QueueName="orders",
        Attributes={"VisibilityTimeout": "45", "RedrivePolicy": redrive},
        tags=TAGS,
    )["QueueUrl"]

    items = _items(aws, [("AWS::SQS::Queue", url), ("AWS::SQS::Queue", dlq_url)])

    item = items["orders"]
    assert item["resourceType"] == "AWS::SQS::Queue"
    assert item["arn"] == dlq_arn.replace("orders-dlq", "orders")
    assert item["resourceId"].endswith("/123456789012/orders")
    assert item["awsRegion"] == "us-east-1"
    configuration = json.loads(item["configuration"])
    assert configuration["VisibilityTimeout"] == 45
    assert configuration["MessageRetentionPeriod"] == 345600
    assert configuration["QueueArn"] == item["arn"]
    assert json.loads(configuration["RedrivePolicy"]) == {
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": 5,
    }
    assert "RedrivePolicy" not in json.loads(items["orders-dlq"]["configuration"])


def test_table_items_use_config_spelling(aws: Any) -> None:
    aws("dynamodb").create_table(
        TableName="orders-state",
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )

    item = _items(aws, [("AWS::DynamoDB::Table", "orders-state")])["orders-state"]

    assert item["arn"].endswith(":table/orders-state")
    configuration = json.loads(item["configuration"])
    assert configuration["billingModeSummary"] == {"billingMode": "PAY_PER_REQUEST"}
    assert configuration["keySchema"] == [
        {"attributeName": "pk", "keyType": "HASH"},
        {"attributeName": "sk", "keyType": "RANGE"},
    ]
    assert configuration["tableArn"] == item["arn"]


def test_bucket_items_gain_encryption_and_versioning(aws: Any) -> None:
    s3 = aws("s3")
    for name in ("orders-data", "orders-plain"):
        s3.create_bucket(Bucket=name)
    s3.put_bucket_encryption(
        Bucket="orders-data",
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
        },
    )
    s3.put_bucket_versioning(Bucket="orders-data", VersioningConfiguration={"Status": "Enabled"})

    items = _items(aws, [("AWS::S3::Bucket", "orders-data"), ("AWS::S3::Bucket", "orders-plain")])

    encrypted = items["orders-data"]["supplementaryConfiguration"]
    encryption = json.loads(encrypted["ServerSideEncryptionConfiguration"])
    assert encryption["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == (
        "aws:kms"
    )
    assert json.loads(encrypted["BucketVersioningConfiguration"])["status"] == "Enabled"
    plain = items["orders-plain"]["supplementaryConfiguration"]
    assert "ServerSideEncryptionConfiguration" not in plain
    assert json.loads(plain["BucketVersioningConfiguration"])["status"] == "Off"


def test_discovered_resources_are_listed_by_type(aws: Any) -> None:
    for name in ("q-one", "q-two", "q-three"):
        aws("sqs").create_queue(QueueName=name)
    config = aws("config")

    first = config.list_discovered_resources(resourceType="AWS::SQS::Queue", limit=2)
    rest = config.list_discovered_resources(
        resourceType="AWS::SQS::Queue", limit=2, nextToken=first["nextToken"]
    )

    names = [r["resourceName"] for r in first["resourceIdentifiers"] + rest["resourceIdentifiers"]]
    assert sorted(names) == ["q-one", "q-three", "q-two"]
    assert "nextToken" not in rest


def test_ecr_repositories_are_in_the_tagging_api(aws: Any) -> None:
    ecr = aws("ecr")
    tagged = ecr.create_repository(
        repositoryName="orders-app", tags=[{"Key": k, "Value": v} for k, v in TAGS.items()]
    )["repository"]["repositoryArn"]
    ecr.create_repository(repositoryName="never-tagged")
    tagging = aws("resourcegroupstaggingapi")

    found = tagging.get_resources(ResourceTypeFilters=["ecr:repository"])["ResourceTagMappingList"]

    assert [(m["ResourceARN"], {t["Key"]: t["Value"] for t in m["Tags"]}) for m in found] == [
        (tagged, TAGS)
    ]
    # The Tagging API's own TagResources reaches ECR too.
    assert (
        tagging.tag_resources(ResourceARNList=[tagged], Tags={"extra": "x"})["FailedResourcesMap"]
        == {}
    )
    tags = ecr.list_tags_for_resource(resourceArn=tagged)["tags"]
    assert {t["Key"]: t["Value"] for t in tags} == {**TAGS, "extra": "x"}


def test_config_keys_follow_java_bean_spelling() -> None:
    assert [_config_key(k) for k in ("TableArn", "SSEDescription", "KMSMasterKeyArn")] == [
        "tableArn",
        "ssedescription",
        "kmsmasterKeyArn",
    ]


def test_the_launched_server_is_recognised_by_its_command_line() -> None:
    # paved.processes identifies its stand-ins by the tail of /proc/<pid>/cmdline.
    spec = moto(host="127.0.0.1", port=free_port())
    process = subprocess.Popen(
        spec.argv,
        env={**os.environ, **spec.env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        # Popen returns once the exec began; the kernel fills in the new command line a
        # moment later, so wait for it.
        deadline = time.monotonic() + 10
        while not (cmdline := process_cmdline(process.pid)) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert spec.argv[1:3] == ("-m", "sandbox.moto_server")
        assert cmdline[-len(spec.argv) :] == spec.argv
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
