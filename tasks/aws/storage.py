"""AWS storage tasks: S3 buckets, SQS queues with their dead-letter queue, DynamoDB tables.

Each `ensure_*` task is an idempotent get-or-create: it reads what exists, creates what
is missing and brings drifted settings back to the declared ones, and returns the
resource's provider id with the list of what it changed (empty when all was in place).
Tags are merged: the policy tags are set, tags someone else added are left alone.
Each `delete_*` task treats "not found" as done.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from prefect import task
from pydantic import BaseModel, Field

from tasks.aws import (
    NOT_FOUND_CODES,
    AwsResourceInfo,
    aws_errors,
    delete_unless_gone,
    error_code,
    missing_tags,
    refuse_unless_ours,
    tag_list,
    task_logger,
)
from tasks.errors import PermanentProviderError, TransientProviderError
from tasks.retries import PROVIDER_TASK_OPTIONS

if TYPE_CHECKING:
    from blocks.aws import AwsAccount

__all__ = [
    "DLQ_RETENTION_SECONDS",
    "BucketInfo",
    "QueueInfo",
    "QueuePair",
    "TableInfo",
    "converge_bucket_settings",
    "delete_bucket",
    "delete_queue",
    "delete_table",
    "ensure_bucket",
    "ensure_queue",
    "ensure_queue_with_dlq",
    "ensure_table",
]

# A dead letter outlives its source queue's retention so someone can still look at it.
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
# How long ensure_table waits for a CREATING table before the task's retry takes over.
_TABLE_ACTIVE_POLLS = 10
_TABLE_POLL_SECONDS = 1.0


class BucketInfo(AwsResourceInfo):
    """An S3 bucket as Paved left it."""

    arn: str = Field(description="arn:aws:s3:::<name>.")


class QueueInfo(AwsResourceInfo):
    """One SQS queue."""

    url: str = Field(description="Queue URL, what SQS clients send to.")


class QueuePair(BaseModel):
    """A work queue and the dead-letter queue it redrives to."""

    queue: QueueInfo = Field(description="The work queue.")
    dlq: QueueInfo = Field(description="Its dead-letter queue.")

    @property
    def changes(self) -> list[str]:
        """What this call changed on either queue."""
        return self.dlq.changes + self.queue.changes


class TableInfo(BaseModel):
    """A DynamoDB table."""

    name: str = Field(description="Table name.")
    arn: str = Field(description="Table ARN.")
    created: bool = Field(description="True when this call created it.")
    changes: list[str] = Field(description="What this call changed; empty when all was in place.")


# --- S3 -----------------------------------------------------------------------------

_PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


def _bucket_exists(s3: Any, name: str) -> bool:
    try:
        s3.head_bucket(Bucket=name)
    except ClientError as exc:
        if error_code(exc) in {"404", *NOT_FOUND_CODES}:
            return False
        if error_code(exc) == "403":
            # S3 names are global: a 403 here means another account holds the name.
            raise PermanentProviderError(
                provider="aws",
                operation="create bucket",
                resource=name,
                cause="the bucket name is taken by another AWS account",
            ) from exc
        raise
    return True


def _get_or_none(call: Any, missing_code: str, **kwargs: Any) -> Any:
    """`call(**kwargs)`, or None when AWS answers `missing_code` (nothing configured)."""
    try:
        return call(**kwargs)
    except ClientError as exc:
        if error_code(exc) == missing_code:
            return None
        raise


def converge_bucket_settings(
    s3: Any, name: str, *, block_public: bool, encryption: str | None, versioning: bool | None
) -> list[str]:
    """Read-compare-write the public access block (when `block_public`), default
    encryption and versioning (None: leave as is) of bucket `name`; returns the changes.
    Shared by `ensure_bucket` and the drift audit's restore."""
    changes: list[str] = []
    if block_public:
        current = _get_or_none(
            s3.get_public_access_block, "NoSuchPublicAccessBlockConfiguration", Bucket=name
        )
        if (current or {}).get("PublicAccessBlockConfiguration") != _PUBLIC_ACCESS_BLOCK:
            s3.put_public_access_block(
                Bucket=name, PublicAccessBlockConfiguration=_PUBLIC_ACCESS_BLOCK
            )
            changes.append(f"blocked all public access to bucket {name}")
    if encryption:
        current = _get_or_none(
            s3.get_bucket_encryption, "ServerSideEncryptionConfigurationNotFoundError", Bucket=name
        )
        rules = (current or {}).get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
        algorithms = [
            rule.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm") for rule in rules
        ]
        if algorithms != [encryption]:
            s3.put_bucket_encryption(
                Bucket=name,
                ServerSideEncryptionConfiguration={
                    "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": encryption}}]
                },
            )
            was = ", ".join(str(a) for a in algorithms) or "none"
            changes.append(f"set default encryption of bucket {name} to {encryption} (was {was})")
    if versioning is not None:
        status = s3.get_bucket_versioning(Bucket=name).get("Status")
        # A bucket that never had versioning has no status; suspending it would add one.
        wanted = "Enabled" if versioning else ("Suspended" if status else None)
        if status != wanted:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": wanted})
            changes.append(f"set versioning of bucket {name} to {wanted} (was {status or 'off'})")
    return changes


def _bucket_tags(s3: Any, name: str) -> dict[str, str]:
    tagging = _get_or_none(s3.get_bucket_tagging, "NoSuchTagSet", Bucket=name)
    return {t["Key"]: t["Value"] for t in (tagging or {}).get("TagSet", [])}


@task(name="aws: ensure bucket", **PROVIDER_TASK_OPTIONS)
def ensure_bucket(
    account: AwsAccount,
    *,
    name: str,
    tags: Mapping[str, str],
    versioning: bool = True,
    encryption: str = "AES256",
) -> BucketInfo:
    """Get or create the private, encrypted bucket `name`, versioned when asked, tagged."""
    changes: list[str] = []
    with aws_errors("ensure bucket", name):
        s3 = account.get_client("s3")
        created = not _bucket_exists(s3, name)
        if not created:
            refuse_unless_ours(
                kind="S3 bucket", name=name, current=_bucket_tags(s3, name), tags=tags
            )
        if created:
            region = s3.meta.region_name
            location = {} if region == "us-east-1" else {"LocationConstraint": region}
            params: dict[str, Any] = {"Bucket": name}
            if location:
                params["CreateBucketConfiguration"] = location
            s3.create_bucket(**params)
            # Tagged at once, before any other call can fail: a retry must find the
            # bucket ours (CreateBucket takes no tags for general-purpose buckets).
            s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tag_list(tags)})
            changes.append(f"created bucket {name}")

        changes += converge_bucket_settings(
            s3, name, block_public=True, encryption=encryption, versioning=versioning
        )

        current_tags = _bucket_tags(s3, name)
        if missing_tags(current_tags, tags):
            s3.put_bucket_tagging(
                Bucket=name, Tagging={"TagSet": tag_list({**current_tags, **tags})}
            )
            changes.append(f"tagged bucket {name}")
    task_logger().info("Bucket %s: %s", name, "; ".join(changes) or "in place")
    return BucketInfo(name=name, arn=f"arn:aws:s3:::{name}", created=created, changes=changes)


@task(name="aws: delete bucket", **PROVIDER_TASK_OPTIONS)
def delete_bucket(account: AwsAccount, *, name: str) -> bool:
    """Empty the bucket `name` (every object version and delete marker) and delete it.

    Returns False when there was no such bucket.
    """
    with aws_errors("delete bucket", name):
        s3 = account.get_client("s3")
        try:
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
                doomed = [
                    {"Key": item["Key"], "VersionId": item["VersionId"]}
                    for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
                ]
                # A page holds at most 1000 keys, DeleteObjects' limit.
                if doomed:
                    s3.delete_objects(Bucket=name, Delete={"Objects": doomed, "Quiet": True})
            s3.delete_bucket(Bucket=name)
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND_CODES:
                return False
            raise
    task_logger().info("Deleted bucket %s", name)
    return True


# --- SQS ----------------------------------------------------------------------------


def _queue_url(sqs: Any, name: str) -> str | None:
    try:
        url: str = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as exc:
        if error_code(exc) in NOT_FOUND_CODES:
            return None
        raise
    return url


def _same_attribute(key: str, current: str | None, wanted: str) -> bool:
    if current is None:
        return False
    if key == "RedrivePolicy":
        # AWS may answer the counts as numbers or strings, and in any key order.
        def normal(text: str) -> dict[str, str]:
            return {k: str(v) for k, v in json.loads(text).items()}

        return normal(current) == normal(wanted)
    return str(current) == wanted


def _converge_queue(
    sqs: Any, *, name: str, attributes: dict[str, str], tags: Mapping[str, str]
) -> QueueInfo:
    changes: list[str] = []
    url = _queue_url(sqs, name)
    created = url is None
    if url is not None:
        found = sqs.list_queue_tags(QueueUrl=url).get("Tags", {})
        refuse_unless_ours(kind="SQS queue", name=name, current=found, tags=tags)
    if url is None:
        url = str(
            sqs.create_queue(QueueName=name, Attributes=attributes, tags=dict(tags))["QueueUrl"]
        )
        changes.append(f"created queue {name}")
    current = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    differing = {
        key: value
        for key, value in attributes.items()
        if not _same_attribute(key, current.get(key), value)
    }
    if differing:
        sqs.set_queue_attributes(QueueUrl=url, Attributes=differing)
        changes.append(f"set {', '.join(sorted(differing))} on queue {name}")
    current_tags = sqs.list_queue_tags(QueueUrl=url).get("Tags", {})
    missing = missing_tags(current_tags, tags)
    if missing:
        sqs.tag_queue(QueueUrl=url, Tags=missing)
        changes.append(f"tagged queue {name}")
    return QueueInfo(name=name, arn=current["QueueArn"], url=url, created=created, changes=changes)


@task(name="aws: ensure queue", **PROVIDER_TASK_OPTIONS)
def ensure_queue(
    account: AwsAccount,
    *,
    name: str,
    tags: Mapping[str, str],
    message_retention_seconds: int,
    visibility_timeout: int | None = None,
    dead_letter_arn: str | None = None,
    max_receive_count: int | None = None,
) -> QueueInfo:
    """Get or create the queue `name` keeping messages `message_retention_seconds`;
    with `dead_letter_arn`, redriving there after `max_receive_count` receives. An
    existing queue whose attributes differ is brought to the declared ones."""
    attributes = {"MessageRetentionPeriod": str(message_retention_seconds)}
    if visibility_timeout is not None:
        attributes["VisibilityTimeout"] = str(visibility_timeout)
    if dead_letter_arn is not None:
        redrive = {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": max_receive_count}
        attributes["RedrivePolicy"] = json.dumps(redrive)
    with aws_errors("ensure queue", name):
        queue = _converge_queue(
            account.get_client("sqs"), name=name, attributes=attributes, tags=tags
        )
    task_logger().info("Queue %s: %s", name, "; ".join(queue.changes) or "in place")
    return queue


@task(name="aws: ensure queue with dead-letter queue", **PROVIDER_TASK_OPTIONS)
def ensure_queue_with_dlq(
    account: AwsAccount,
    *,
    name: str,
    dlq_name: str,
    tags: Mapping[str, str],
    visibility_timeout: int,
    max_receive_count: int,
    message_retention_seconds: int,
) -> QueuePair:
    """Get or create the dead-letter queue `dlq_name`, then the queue `name` redriving to
    it after `max_receive_count` receives; an existing queue whose attributes differ is
    brought to the declared ones."""
    with aws_errors("ensure queue", dlq_name):
        sqs = account.get_client("sqs")
        dlq = _converge_queue(
            sqs,
            name=dlq_name,
            attributes={"MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)},
            tags=tags,
        )
    redrive = json.dumps({"deadLetterTargetArn": dlq.arn, "maxReceiveCount": max_receive_count})
    with aws_errors("ensure queue", name):
        queue = _converge_queue(
            sqs,
            name=name,
            attributes={
                "VisibilityTimeout": str(visibility_timeout),
                "MessageRetentionPeriod": str(message_retention_seconds),
                "RedrivePolicy": redrive,
            },
            tags=tags,
        )
    pair = QueuePair(queue=queue, dlq=dlq)
    task_logger().info("Queues %s, %s: %s", name, dlq_name, "; ".join(pair.changes) or "in place")
    return pair


@task(name="aws: delete queue", **PROVIDER_TASK_OPTIONS)
def delete_queue(account: AwsAccount, *, name: str) -> bool:
    """Delete the queue `name`; False when there was no such queue."""
    with aws_errors("delete queue", name):
        sqs = account.get_client("sqs")
        url = _queue_url(sqs, name)
        if url is None:
            return False
        try:
            sqs.delete_queue(QueueUrl=url)
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND_CODES:
                return False
            raise
    task_logger().info("Deleted queue %s", name)
    return True


# --- DynamoDB -----------------------------------------------------------------------


def _describe_table(dynamodb: Any, name: str) -> dict[str, Any] | None:
    try:
        table: dict[str, Any] = dynamodb.describe_table(TableName=name)["Table"]
    except ClientError as exc:
        if error_code(exc) in NOT_FOUND_CODES:
            return None
        raise
    return table


def _wait_active(dynamodb: Any, name: str, table: dict[str, Any]) -> dict[str, Any]:
    """The table once ACTIVE; a table still CREATING after a while is a transient failure."""
    for _ in range(_TABLE_ACTIVE_POLLS):
        if table.get("TableStatus") == "ACTIVE":
            return table
        time.sleep(_TABLE_POLL_SECONDS)
        table = _describe_table(dynamodb, name) or table
    if table.get("TableStatus") == "ACTIVE":
        return table
    raise TransientProviderError(
        provider="aws",
        operation="ensure table",
        resource=name,
        cause=f"table is {table.get('TableStatus')}, not yet ACTIVE",
    )


@task(name="aws: ensure table", **PROVIDER_TASK_OPTIONS)
def ensure_table(
    account: AwsAccount,
    *,
    name: str,
    partition_key: str,
    sort_key: str | None = None,
    tags: Mapping[str, str],
) -> TableInfo:
    """Get or create the on-demand (PAY_PER_REQUEST) table `name` keyed by string
    attributes `partition_key` (and `sort_key`), tagged. A table with other keys is a
    permanent error: keys cannot change after creation."""
    changes: list[str] = []
    keys = [{"AttributeName": partition_key, "KeyType": "HASH"}]
    if sort_key:
        keys.append({"AttributeName": sort_key, "KeyType": "RANGE"})
    with aws_errors("ensure table", name):
        dynamodb = account.get_client("dynamodb")
        table = _describe_table(dynamodb, name)
        created = table is None
        if table is not None:
            found = dynamodb.list_tags_of_resource(ResourceArn=table["TableArn"]).get("Tags", [])
            refuse_unless_ours(
                kind="DynamoDB table",
                name=name,
                current={t["Key"]: t["Value"] for t in found},
                tags=tags,
            )
        if table is None:
            table = dynamodb.create_table(
                TableName=name,
                AttributeDefinitions=[
                    {"AttributeName": key["AttributeName"], "AttributeType": "S"} for key in keys
                ],
                KeySchema=keys,
                BillingMode="PAY_PER_REQUEST",
                Tags=tag_list(tags),
            )["TableDescription"]
            changes.append(f"created table {name}")
        table = _wait_active(dynamodb, name, table)
        if table["KeySchema"] != keys:
            raise PermanentProviderError(
                provider="aws",
                operation="ensure table",
                resource=name,
                cause=f"the table exists with keys {table['KeySchema']}, not {keys}",
            )
        billing = table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
        if billing != "PAY_PER_REQUEST":
            dynamodb.update_table(TableName=name, BillingMode="PAY_PER_REQUEST")
            changes.append(f"set table {name} to on-demand billing")
        arn = str(table["TableArn"])
        current = dynamodb.list_tags_of_resource(ResourceArn=arn).get("Tags", [])
        missing = missing_tags({t["Key"]: t["Value"] for t in current}, tags)
        if missing:
            dynamodb.tag_resource(ResourceArn=arn, Tags=tag_list(missing))
            changes.append(f"tagged table {name}")
    task_logger().info("Table %s: %s", name, "; ".join(changes) or "in place")
    return TableInfo(name=name, arn=arn, created=created, changes=changes)


@task(name="aws: delete table", **PROVIDER_TASK_OPTIONS)
def delete_table(account: AwsAccount, *, name: str) -> bool:
    """Delete the table `name`; False when there was no such table."""
    dynamodb = account.get_client("dynamodb")
    return delete_unless_gone("delete table", name, lambda: dynamodb.delete_table(TableName=name))
