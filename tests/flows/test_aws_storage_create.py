"""`aws:storage:create` against moto and a real registry, in-process.

Settings and tags are checked with boto3 through the block's own clients; faults are
injected through the block's test seam (tests/flows/aws_faults.py), never by patching.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.exceptions import ParameterTypeError
from pydantic import ValidationError

from blocks import AwsAccount
from flows.actions.aws_storage_create import (
    StorageCreateRequest,
    StorageCreateResult,
    aws_storage_create,
)
from registry import policy, queries
from registry.db import make_engine, session_scope
from registry.errors import NotAuthorized, NotFound, PolicyViolation
from registry.models import Provider, ResourceStatus
from tests.flows.aws_faults import AwsFaults, installed

ORDERS = {"service": "orders", "requester": "dave"}
BUCKET = "payments-orders-data"
QUEUE = "payments-orders-jobs"
DLQ = "payments-orders-jobs-dlq"
TABLE = "payments-orders-state"
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
    return aws_storage_create(request=request, return_state=True)


def aws_is_empty(account: AwsAccount) -> bool:
    return (
        account.get_client("s3").list_buckets()["Buckets"] == []
        and account.get_client("sqs").list_queues().get("QueueUrls", []) == []
        and account.get_client("dynamodb").list_tables()["TableNames"] == []
    )


def test_creates_private_storage_owned_tagged_and_converges(
    aws_account: AwsAccount, registry_url: str, orders: None
) -> None:
    state = run({**ORDERS, "sort_key": "sk", "visibility_timeout_seconds": 60})

    assert state.is_completed(), state.message
    result = state.result()
    assert isinstance(result, StorageCreateResult)
    assert sorted(result.created) == sorted([BUCKET, QUEUE, DLQ, TABLE])
    assert result.unchanged == [] and result.region == "us-east-1"

    s3 = aws_account.get_client("s3")
    block = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    rules = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=BUCKET)["TagSet"]}
    assert tags == POLICY_TAGS

    sqs = aws_account.get_client("sqs")
    dlq_url = sqs.get_queue_url(QueueName=DLQ)["QueueUrl"]
    queue_url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "60"
    assert attributes["MessageRetentionPeriod"] == str(4 * 86400)
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == dlq_arn and int(redrive["maxReceiveCount"]) == 5
    for url in (queue_url, dlq_url):
        assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == POLICY_TAGS

    dynamodb = aws_account.get_client("dynamodb")
    table = dynamodb.describe_table(TableName=TABLE)["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    table_tags = dynamodb.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"]
    assert {t["Key"]: t["Value"] for t in table_tags} == POLICY_TAGS

    expected = {
        ("s3_bucket", BUCKET): (f"arn:aws:s3:::{BUCKET}", None),
        ("sqs_queue", QUEUE): (attributes["QueueArn"], queue_url),
        ("sqs_queue", DLQ): (dlq_arn, dlq_url),
        ("dynamodb_table", TABLE): (table["TableArn"], None),
    }
    with registry(registry_url) as session:
        resources = queries.find_resources(session, service="orders")
        found = {(r.kind, r.name): (r.external_id, r.url) for r in resources}
        assert found == expected
        assert all(r.status == ResourceStatus.ACTIVE for r in resources)
        assert all(r.tags == POLICY_TAGS for r in resources)
        owner = queries.ownership_of(session, thing=BUCKET)
        assert owner is not None and (owner.service, owner.owner) == ("orders", "carol")
        dependencies = queries.dependencies_of(session, service="orders")
        assert {d.depends_on_resource for d in dependencies} == {
            ("aws", kind, name) for kind, name in expected
        }
        journal = queries.journal_for_run(session, flow_run_id=str(state.state_details.flow_run_id))
        assert [entry.state for entry in journal] == ["Running", "Completed"]
        assert journal[-1].action == "aws:storage:create" and journal[-1].team == "payments"

    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(state.state_details.flow_run_id)
    assert flow_run.name == "create-storage/payments/orders"
    assert {"action:aws:storage:create", "team:payments", "service:orders"} <= set(flow_run.tags)

    # The same request again changes nothing. (One test: each run costs seconds.)

    state = run({**ORDERS, "sort_key": "sk", "visibility_timeout_seconds": 60})

    assert state.is_completed(), state.message
    result = state.result()
    assert result.created == [] and result.changes == []
    assert sorted(result.unchanged) == sorted([BUCKET, QUEUE, DLQ, TABLE])
    with registry(registry_url) as session:
        assert len(queries.find_resources(session, service="orders")) == 4
        assert len(queries.dependencies_of(session, service="orders")) == 4


def test_only_what_is_asked_for_in_the_region_asked_for(
    aws_account: AwsAccount, registry_url: str, orders: None
) -> None:
    state = run({**ORDERS, "queue": False, "table": False, "region": "eu-west-1"})

    assert state.is_completed(), state.message
    s3 = aws_account.get_client("s3")
    assert s3.get_bucket_location(Bucket=BUCKET)["LocationConstraint"] == "eu-west-1"
    assert aws_account.get_client("dynamodb").list_tables()["TableNames"] == []
    with registry(registry_url) as session:
        assert [r.name for r in queries.find_resources(session, service="orders")] == [BUCKET]


def test_dry_run_touches_nothing(aws_account: AwsAccount, registry_url: str, orders: None) -> None:
    state = run({**ORDERS, "dry_run": True})

    assert state.is_completed(), state.message
    result = state.result()
    assert result.dry_run and {r.name for r in result.resources} == {BUCKET, QUEUE, DLQ, TABLE}
    assert aws_is_empty(aws_account)
    with registry(registry_url) as session:
        assert queries.find_resources(session, service="orders") == []


# (change, the error's class, what it says): the class shows which check refused the run.
BAD_RUNS: list[tuple[dict[str, Any], type[Exception], str]] = [
    (
        {"region": "ap-south-1"},
        PolicyViolation,
        "region 'ap-south-1' is not allowed; choose one of: us-east-1",
    ),
    ({"service": "ghost"}, NotFound, "no service 'ghost'"),
    ({"requester": "alice"}, NotAuthorized, "'alice' is not a member"),
    ({"message_retention_days": 15}, ParameterTypeError, "request.message_retention_days: "),
]


def test_bad_requests_fail_before_any_call(
    aws_account: AwsAccount, registry_url: str, orders: None, faults: AwsFaults
) -> None:
    # One test for the lot: each flow run costs seconds, the setup too.
    for change, error, says in BAD_RUNS:
        state = run({**ORDERS, **change})

        assert state.type == StateType.FAILED, change
        with pytest.raises(error, match=says):
            state.result()
    assert sum(faults.calls.values()) == 0, "no AWS call at all"
    with registry(registry_url) as session:
        assert queries.find_resources(session, service="orders") == []
        failed = [e for e in queries.latest_journal(session) if e.state == "Failed"]
        assert len(failed) == 3, "every run that started is journaled as failed"


BAD_FIELDS = {
    "visibility timeout": ({"visibility_timeout_seconds": 43201}, "less than or equal to 43200"),
    "negative visibility": ({"visibility_timeout_seconds": -1}, "greater than or equal to 0"),
    "receive count zero": ({"max_receive_count": 0}, "greater than or equal to 1"),
    "receive count high": ({"max_receive_count": 21}, "less than or equal to 20"),
    "retention zero": ({"message_retention_days": 0}, "greater than or equal to 1"),
    "partition key": ({"partition_key": "1st"}, "partition key '1st' is not allowed"),
    "sort key": ({"sort_key": "a-b"}, "sort key 'a-b' is not allowed"),
    "same keys": ({"sort_key": "pk"}, "must differ from the partition key"),
    "nothing asked": ({"bucket": False, "queue": False, "table": False}, "at least one"),
    "service name": ({"service": "Orders"}, "service name 'Orders'"),
    "unknown field": ({"size": "large"}, "Extra inputs are not permitted"),
}


@pytest.mark.parametrize(("change", "says"), BAD_FIELDS.values(), ids=BAD_FIELDS.keys())
def test_bad_fields_are_refused_by_the_form(change: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        StorageCreateRequest(**{**ORDERS, **change})


def test_request_model_describes_every_field() -> None:
    schema = StorageCreateRequest.model_json_schema()
    assert schema["additionalProperties"] is False
    for name, field in schema["properties"].items():
        assert field.get("description"), f"{name} has no description"
    assert schema["properties"]["service"]["pattern"] == policy.NAME_PATTERN


def test_throttling_and_5xx_are_retried_and_the_run_succeeds(
    aws_account: AwsAccount, registry_url: str, orders: None, faults: AwsFaults
) -> None:
    # botocore makes `max_attempts` (3) attempts per call: 4 faults in a row exhaust a
    # first task attempt, so Paved's task retry runs too; one fault botocore absorbs.
    faults.add("s3.PutBucketEncryption", status=503, code="SlowDown", times=4)
    faults.add("dynamodb.CreateTable", status=400, code="ThrottlingException", times=4)
    faults.add("sqs.CreateQueue", status=500, code="InternalError", times=1)

    state = run(ORDERS)

    assert state.is_completed(), state.message
    assert faults.injected == {
        "s3.PutBucketEncryption": 4,
        "dynamodb.CreateTable": 4,
        "sqs.CreateQueue": 1,
    }
    assert faults.calls["s3.PutBucketEncryption"] == 5
    rules = aws_account.get_client("s3").get_bucket_encryption(Bucket=BUCKET)[
        "ServerSideEncryptionConfiguration"
    ]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    with registry(registry_url) as session:
        resources = queries.find_resources(session, service="orders")
        assert [r.status for r in resources] == [ResourceStatus.ACTIVE] * 4


def test_permanent_fault_fails_fast_and_rerun_converges(
    aws_account: AwsAccount, registry_url: str, orders: None, faults: AwsFaults
) -> None:
    faults.add("sqs.CreateQueue", status=403, code="AccessDenied", times=100)

    state = run(ORDERS)

    assert state.type == StateType.FAILED
    with pytest.raises(
        Exception, match=f"aws ensure queue failed for {DLQ}: AccessDenied: injected AccessDenied"
    ):
        state.result()
    assert faults.calls["sqs.CreateQueue"] == 1, "a 403 is not retried"
    with registry(registry_url) as session:
        status = {
            r.name: (r.status, r.error or "")
            for r in queries.find_resources(session, provider=Provider.AWS)
        }
        assert status[BUCKET][0] == ResourceStatus.ACTIVE
        assert status[DLQ][0] == status[QUEUE][0] == ResourceStatus.FAILED
        assert "AccessDenied" in status[QUEUE][1]
        # The table was never reached: its intent stays on record.
        assert status[TABLE][0] == ResourceStatus.PROVISIONING

    faults.clear()
    state = run(ORDERS)

    assert state.is_completed(), state.message
    result = state.result()
    assert BUCKET in result.unchanged and {QUEUE, DLQ, TABLE} <= set(result.created)
    with registry(registry_url) as session:
        resources = queries.find_resources(session, service="orders")
        assert [(r.status, r.error) for r in resources] == [(ResourceStatus.ACTIVE, None)] * 4
