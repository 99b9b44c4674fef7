"""service:create's clean-up removes only what the failed run created, in the region it
made it in: never what existed before the run, never what a previous run made, never a
resource an action refused to adopt. service:decommission keeps such a resource too."""

from __future__ import annotations

from typing import Any

import pytest
from prefect.client.schemas.objects import StateType

from blocks import AwsAccount
from flows.actions.service_create import service_create
from flows.actions.service_decommission import service_decommission
from registry import queries
from registry.db import make_engine, session_scope
from registry.models import ResourceStatus
from sandbox.fake_github import FakeGitHubControl
from tasks.errors import ResourceConflict
from tests.flows.notify_helpers import Sink, approve, in_thread

pytestmark = pytest.mark.usefixtures(
    "paved_blocks", "aws_account", "kafka_cluster", "notify_channels"
)

ORDERS: dict[str, Any] = {
    "name": "orders",
    "team": "payments",
    "owner": "carol",
    "requester": "dave",
    "topics": [],
}
BUCKET = "payments-orders-data"
FOREIGN_TAGS = {"team": "someone-else"}


def create(**changes: Any) -> Any:
    return service_create(request={**ORDERS, **changes}, return_state=True)


def foreign_bucket(aws: AwsAccount, region: str) -> Any:
    """The bucket name Paved would use, made beforehand by someone else, in `region`."""
    s3 = aws.in_region(region).get_client("s3")
    location = {} if region == "us-east-1" else {"LocationConstraint": region}
    s3.create_bucket(Bucket=BUCKET, **({"CreateBucketConfiguration": location} if location else {}))
    s3.put_bucket_tagging(
        Bucket=BUCKET, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in FOREIGN_TAGS.items()]}
    )
    return s3


def tags_of(s3: Any) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=BUCKET)["TagSet"]}


def ecr_names(aws: AwsAccount, region: str) -> list[str]:
    repos = aws.in_region(region).get_client("ecr").describe_repositories()["repositories"]
    return [repo["repositoryName"] for repo in repos]


def test_cleanup_removes_this_runs_resources_in_their_region_and_leaves_the_foreign_bucket(
    fake_github: FakeGitHubControl, aws_account: AwsAccount, registry_url: str
) -> None:
    s3 = foreign_bucket(aws_account, "eu-west-1")

    state = create(storage=["bucket"], region="eu-west-1", cleanup_on_failure=True)

    assert state.type == StateType.FAILED
    with pytest.raises(ResourceConflict, match=f"S3 bucket {BUCKET} exists and is not tagged"):
        state.result()
    # What the run made in eu-west-1 is gone from eu-west-1 (not looked for in us-east-1).
    assert ecr_names(aws_account, "eu-west-1") == []
    # The bucket that was there before is there still, exactly as it was.
    assert tags_of(s3) == FOREIGN_TAGS
    with session_scope(make_engine(registry_url)) as session:
        [cleanup] = queries.latest_journal(session, action="service:create:cleanup")
        assert any(BUCKET in line for line in cleanup.parameters["left"])
        assert any("ecr_repository payments-orders-app" in r for r in cleanup.parameters["removed"])


def test_cleanup_keeps_what_a_previous_run_made(
    fake_github: FakeGitHubControl, aws_account: AwsAccount, registry_url: str
) -> None:
    first = create()
    assert first.is_completed(), first.message
    s3 = foreign_bucket(aws_account, "us-east-1")

    second = create(storage=["bucket"], cleanup_on_failure=True)

    assert second.type == StateType.FAILED
    assert ecr_names(aws_account, "us-east-1") == ["payments-orders-app"], "the first run's"
    assert tags_of(s3) == FOREIGN_TAGS
    with session_scope(make_engine(registry_url)) as session:
        statuses = {r.name: r.status for r in queries.find_resources(session, service="orders")}
    assert statuses["payments-orders-app"] == ResourceStatus.ACTIVE
    assert statuses["acme/orders"] == ResourceStatus.ACTIVE


def test_decommission_removes_in_the_region_and_keeps_a_resource_that_is_not_ours(
    fake_github: FakeGitHubControl, aws_account: AwsAccount, registry_url: str, sink: Sink
) -> None:
    s3 = foreign_bucket(aws_account, "eu-west-1")
    failed = create(storage=["bucket"], region="eu-west-1")
    assert failed.type == StateType.FAILED
    assert ecr_names(aws_account, "eu-west-1") == ["payments-orders-app"]
    sink.clear()
    request = {
        "service": "orders",
        "requester": "dave",
        "confirm": "orders",
        "reason": "made in the wrong place",
        "approval_timeout_seconds": 60,
    }

    thread, out = in_thread(lambda: service_decommission(request=request, return_state=True))
    approve(sink, to="carol")
    thread.join(timeout=300)

    state = out[0]
    assert state.is_completed(), state.message
    outcomes = {r.name: r for r in state.result().resources}
    assert outcomes[BUCKET].outcome == "kept"
    assert "is not tagged paved:service=orders" in (outcomes[BUCKET].error or "")
    assert tags_of(s3) == FOREIGN_TAGS
    assert ecr_names(aws_account, "eu-west-1") == []
