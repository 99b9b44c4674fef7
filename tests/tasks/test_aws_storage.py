"""Storage tasks against moto, called as plain functions (`task.fn`): get-or-create,
convergence of drifted settings, and deletes that treat "not found" as done."""

from __future__ import annotations

import json

import pytest

from blocks.aws import AwsAccount
from tasks.aws.storage import (
    delete_bucket,
    delete_queue,
    delete_table,
    ensure_bucket,
    ensure_queue_with_dlq,
    ensure_table,
)
from tasks.errors import PermanentProviderError

TAGS = {"paved:service": "orders", "paved:team": "payments"}


def test_bucket_converges_and_keeps_foreign_tags(account: AwsAccount) -> None:
    first = ensure_bucket.fn(account, name="b-data", tags=TAGS)
    assert first.created and first.arn == "arn:aws:s3:::b-data"
    s3 = account.get_client("s3")
    s3.put_bucket_versioning(Bucket="b-data", VersioningConfiguration={"Status": "Suspended"})
    s3.delete_public_access_block(Bucket="b-data")
    # Someone adds a tag and drops the team's: the service tag stays, so it is still ours.
    s3.put_bucket_tagging(
        Bucket="b-data",
        Tagging={
            "TagSet": [
                {"Key": "extra", "Value": "kept"},
                {"Key": "paved:service", "Value": "orders"},
            ]
        },
    )

    second = ensure_bucket.fn(account, name="b-data", tags=TAGS)

    assert not second.created and len(second.changes) == 3
    assert s3.get_bucket_versioning(Bucket="b-data")["Status"] == "Enabled"
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket="b-data")["TagSet"]}
    assert tags == {**TAGS, "extra": "kept"}
    assert ensure_bucket.fn(account, name="b-data", tags=TAGS).changes == []


def test_unversioned_bucket_is_left_without_versioning(account: AwsAccount) -> None:
    ensure_bucket.fn(account, name="b-plain", tags=TAGS, versioning=False)
    assert "Status" not in account.get_client("s3").get_bucket_versioning(Bucket="b-plain")
    assert ensure_bucket.fn(account, name="b-plain", tags=TAGS, versioning=False).changes == []


def test_delete_bucket_empties_every_version(account: AwsAccount) -> None:
    ensure_bucket.fn(account, name="b-full", tags=TAGS)
    s3 = account.get_client("s3")
    for body in (b"one", b"two"):
        s3.put_object(Bucket="b-full", Key="k", Body=body)
    s3.delete_object(Bucket="b-full", Key="k")

    assert delete_bucket.fn(account, name="b-full") is True
    assert delete_bucket.fn(account, name="b-full") is False
    assert s3.list_buckets()["Buckets"] == []


def test_queue_drift_is_brought_back(account: AwsAccount) -> None:
    settings = {
        "visibility_timeout": 30,
        "max_receive_count": 5,
        "message_retention_seconds": 4 * 86400,
    }
    pair = ensure_queue_with_dlq.fn(account, name="q", dlq_name="q-dlq", tags=TAGS, **settings)
    assert pair.queue.created and pair.dlq.created
    sqs = account.get_client("sqs")
    sqs.set_queue_attributes(QueueUrl=pair.queue.url, Attributes={"VisibilityTimeout": "99"})

    again = ensure_queue_with_dlq.fn(account, name="q", dlq_name="q-dlq", tags=TAGS, **settings)

    assert again.changes == ["set VisibilityTimeout on queue q"]
    attributes = sqs.get_queue_attributes(QueueUrl=pair.queue.url, AttributeNames=["All"])[
        "Attributes"
    ]
    assert attributes["VisibilityTimeout"] == "30"
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == pair.dlq.arn
    assert int(redrive["maxReceiveCount"]) == 5
    assert (
        ensure_queue_with_dlq.fn(account, name="q", dlq_name="q-dlq", tags=TAGS, **settings).changes
        == []
    )
    assert delete_queue.fn(account, name="q") is True
    assert delete_queue.fn(account, name="q") is False


def test_table_keys_cannot_change(account: AwsAccount) -> None:
    table = ensure_table.fn(account, name="t-state", partition_key="pk", sort_key="sk", tags=TAGS)
    assert table.created and table.arn.endswith(":table/t-state")
    assert (
        ensure_table.fn(
            account, name="t-state", partition_key="pk", sort_key="sk", tags=TAGS
        ).changes
        == []
    )

    with pytest.raises(PermanentProviderError, match="t-state: the table exists with keys"):
        ensure_table.fn(account, name="t-state", partition_key="id", tags=TAGS)

    assert delete_table.fn(account, name="t-state") is True
    assert delete_table.fn(account, name="t-state") is False
