"""`access:grant` and `access:revoke` against the fake GitHub, moto and a real registry.

Write access, production, team membership and revoking someone else's access pause for
the change approver (carol, lead of payments): the test reads the one-time code from the
webhook sink and resumes the run from another thread.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from github import Github
from pydantic import ValidationError

from blocks import KAFKA_BLOCK, AwsAccount, KafkaCluster
from flows.actions.access_grant import AccessGrantRequest, AccessResult, access_grant, access_revoke
from flows.actions.github_repo_create import github_repo_create
from registry import queries
from registry.db import make_engine, session_scope
from registry.models import Provider, ResourceStatus
from sandbox.fake_github.control import FakeGitHubControl
from tasks.aws.access import CONSUMING_ACTIONS, access_policy_document
from tests.flows.notify_helpers import Sink, approve, in_thread

BASE = {"service": "orders", "person": "erin", "requester": "dave", "reason": "on-call shadowing"}
BUCKET = "payments-orders-data"
PRODUCTION_BUCKET = "payments-orders-live"
QUEUE = "payments-orders-jobs"
STAGING = {"paved:environment": "staging"}


@pytest.fixture(autouse=True)
def approval_polls_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAVED_APPROVAL_POLL_SECONDS", "0.1")


@pytest.fixture
def orders(
    fake_github: FakeGitHubControl,
    registry_url: str,
    paved_blocks: None,
    notify_channels: dict[str, str],
) -> None:
    """Service `orders` (payments; owner, change approver and on-call carol) with its
    repository acme/orders."""
    state = github_repo_create(
        request={"name": "orders", "team": "payments", "owner": "carol", "requester": "dave"},
        return_state=True,
    )
    assert state.is_completed(), state.message
    fake_github.clear_requests()


@pytest.fixture
def orders_bucket(orders: None, aws_account: AwsAccount, registry_url: str) -> str:
    """S3 buckets of `orders`, in moto and active in the registry: BUCKET tagged staging
    and PRODUCTION_BUCKET with no environment (production); returns BUCKET's ARN."""
    for name, tags in ((BUCKET, STAGING), (PRODUCTION_BUCKET, None)):
        aws_account.get_client("s3").create_bucket(Bucket=name)
        with registry(registry_url) as session:
            queries.upsert_resource(
                session,
                service="orders",
                provider=Provider.AWS,
                kind="s3_bucket",
                name=name,
                external_id=f"arn:aws:s3:::{name}",
                tags=tags,
                status=ResourceStatus.ACTIVE,
            )
    return f"arn:aws:s3:::{BUCKET}"


@pytest.fixture
def orders_queue(orders_bucket: str, aws_account: AwsAccount, registry_url: str) -> str:
    """A staging SQS queue of `orders` beside the buckets; returns its ARN."""
    url = aws_account.get_client("sqs").create_queue(QueueName=QUEUE)["QueueUrl"]
    arn: str = aws_account.get_client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    with registry(registry_url) as session:
        queries.upsert_resource(
            session,
            service="orders",
            provider=Provider.AWS,
            kind="sqs_queue",
            name=QUEUE,
            external_id=arn,
            tags=STAGING,
            status=ResourceStatus.ACTIVE,
        )
    return arn


def registry(url: str) -> Any:
    return session_scope(make_engine(url))


def grants(url: str, person: str = "erin", status: str | None = None) -> list[tuple[Any, ...]]:
    with registry(url) as session:
        return [
            (g.permission, g.status.value, g.approver.handle if g.approver else None)
            for g in queries.find_grants(session, person=person, status=status)
        ]


def iam(aws_account: AwsAccount) -> Any:
    return aws_account.get_client("iam")


def user_policies(aws_account: AwsAccount, user: str = "paved-erin") -> list[str]:
    client = iam(aws_account)
    try:
        names: list[str] = client.list_user_policies(UserName=user)["PolicyNames"]
    except client.exceptions.NoSuchEntityException:
        return []
    return names


def team_members(fake: FakeGitHubControl, slug: str) -> dict[str, str]:
    teams = {team["slug"]: team for team in fake.state()["teams"]}
    members: dict[str, str] = teams[slug]["members"]
    return members


def policy_on_user(aws_account: AwsAccount, name: str, user: str = "paved-erin") -> Any:
    """The inline policy as IAM (moto) reads it back."""
    document = iam(aws_account).get_user_policy(UserName=user, PolicyName=name)["PolicyDocument"]
    return json.loads(document) if isinstance(document, str) else document


def grant(request: dict[str, Any]) -> Any:
    return access_grant(request={**BASE, **request}, return_state=True)


def revoke(request: dict[str, Any]) -> Any:
    return access_revoke(request={**BASE, **request}, return_state=True)


# --- grants without approval ---------------------------------------------------------------


def test_read_access_needs_no_approval_and_regrant_changes_nothing(
    orders: None, fake_github: FakeGitHubControl, sink: Sink, registry_url: str
) -> None:
    pull = {"kind": "github-repository", "permission": "pull", "expires_in_days": 7}
    state = grant(pull)

    assert state.is_completed(), state.message
    result = state.result()
    assert isinstance(result, AccessResult) and result.changed and result.approver is None
    assert grants(registry_url) == [("github-repository:pull@staging", "active", None)]
    assert sink.messages("carol") == []  # no approval asked

    again = grant(pull)

    assert again.is_completed(), again.message
    assert again.result().changed is False
    assert grants(registry_url) == [("github-repository:pull@staging", "active", None)]
    writes = [r for r in fake_github.requests(writes_only=True) if "collaborators" in r["path"]]
    assert len(writes) == 1  # the re-grant wrote nothing


def test_team_membership_waits_for_the_change_approver(
    orders: None, fake_github: FakeGitHubControl, sink: Sink, registry_url: str
) -> None:
    # A member gets maintain on every payments repository and reviews its production
    # deploys: never without approval, even in staging.
    thread, out = in_thread(lambda: grant({"kind": "github-team", "permission": "member"}))
    message = sink.wait_for("carol")["body"]["body"]
    assert "erin" not in team_members(fake_github, "payments")  # nothing before approval
    approve(sink, to="carol")
    thread.join(30)

    state = out[0]
    assert state.is_completed(), state.message
    assert team_members(fake_github, "payments")["erin"] == "member"
    assert grants(registry_url) == [("github-team:member@staging", "active", "carol")]
    assert "grant github-team member on team payments" in message


def test_aws_read_grant_puts_a_validated_inline_policy(
    orders_bucket: str, aws_account: AwsAccount, registry_url: str, sink: Sink
) -> None:
    state = grant({"kind": "aws-iam", "permission": "read"})

    assert state.is_completed(), state.message
    assert state.result().target == "paved-erin/paved-orders-read-staging"
    user = iam(aws_account).get_user(UserName="paved-erin")["User"]
    tags = {
        t["Key"]: t["Value"] for t in iam(aws_account).list_user_tags(UserName="paved-erin")["Tags"]
    }
    assert tags == {"paved:managed-by": "paved", "paved:person": "erin"}
    assert user["UserName"] == "paved-erin"
    document = policy_on_user(aws_account, "paved-orders-read-staging")
    (statement,) = document["Statement"]
    # The staging grant covers the staging bucket only, never production's.
    assert statement["Resource"] == [orders_bucket, f"{orders_bucket}/*"]
    assert statement["Sid"] == "PavedS3ReadStaging"
    assert "s3:GetObject" in statement["Action"] and "s3:PutObject" not in statement["Action"]
    assert grants(registry_url) == [("aws-iam:read@staging", "active", None)]

    revoked = approved(sink, lambda: revoke({"kind": "aws-iam", "permission": "read"}))

    assert revoked.is_completed(), revoked.message
    assert user_policies(aws_account) == []
    assert grants(registry_url, status=None) == [("aws-iam:read@staging", "revoked", None)]


def test_reading_a_queue_never_consumes_it(
    orders_queue: str, aws_account: AwsAccount, registry_url: str
) -> None:
    state = grant({"kind": "aws-iam", "permission": "read"})

    assert state.is_completed(), state.message
    statements = {
        s["Sid"]: s for s in policy_on_user(aws_account, "paved-orders-read-staging")["Statement"]
    }
    sqs = statements["PavedSqsReadStaging"]
    assert sqs["Resource"] == [orders_queue]
    assert set(sqs["Action"]) == {"sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ListQueueTags"}
    assert not CONSUMING_ACTIONS & {a for s in statements.values() for a in s["Action"]}


def test_no_grant_level_includes_consuming_messages() -> None:
    arn = "arn:aws:sqs:eu-west-1:123456789012:payments-orders-jobs"
    for permission in ("read", "write"):
        document = access_policy_document([arn], permission=permission, environment="staging")
        (statement,) = document["Statement"]
        assert not CONSUMING_ACTIONS & set(statement["Action"]), permission
    assert "sqs:SendMessage" in statement["Action"]  # write sends


def test_a_staging_grant_without_staging_resources_is_refused(
    orders: None, aws_account: AwsAccount, registry_url: str
) -> None:
    with registry(registry_url) as session:
        queries.upsert_resource(
            session,
            service="orders",
            provider=Provider.AWS,
            kind="s3_bucket",
            name=PRODUCTION_BUCKET,
            external_id=f"arn:aws:s3:::{PRODUCTION_BUCKET}",
            status=ResourceStatus.ACTIVE,
        )

    state = grant({"kind": "aws-iam", "permission": "read"})

    assert state.is_failed()
    assert "no active S3, SQS or DynamoDB resource in staging" in str(state.message)
    assert "it has some in production" in str(state.message)
    assert user_policies(aws_account) == []


# --- approval ----------------------------------------------------------------------------


def test_write_access_waits_for_the_change_approver(
    orders: None, github: Github, sink: Sink, registry_url: str
) -> None:
    thread, out = in_thread(lambda: grant({"kind": "github-repository", "permission": "push"}))
    approve(sink, to="carol")
    thread.join(30)

    state = out[0]
    assert state.is_completed(), state.message
    assert state.result().approver == "carol"
    permission = github.get_repo("acme/orders").get_collaborator_permission("erin")
    assert permission == "write"  # GitHub's old name for push
    assert grants(registry_url) == [("github-repository:push@staging", "active", "carol")]
    assert "push on acme/orders" in sink.messages("carol")[0]["body"]["body"]


def test_a_wrong_code_grants_nothing(
    orders_bucket: str, aws_account: AwsAccount, sink: Sink, registry_url: str
) -> None:
    thread, out = in_thread(lambda: grant({"kind": "aws-iam", "permission": "write"}))
    approve(sink, to="carol", code="not-the-code")
    thread.join(30)

    state = out[0]
    assert state.is_failed()
    assert "wrong approval code" in str(state.message) or "rejected" in str(state.message)
    client = iam(aws_account)
    with pytest.raises(client.exceptions.NoSuchEntityException):
        client.get_user(UserName="paved-erin")
    assert grants(registry_url, status=None) == []
    assert "NotAuthorized" in sink.wait_for("dave")["body"]["body"]


# --- refusals and revoke -------------------------------------------------------------------


def test_kafka_acl_is_refused_without_an_authorizer(
    orders: None, fake_github: FakeGitHubControl, registry_url: str
) -> None:
    # Never contacted: the refusal comes from the block's has_authorizer alone.
    KafkaCluster(bootstrap_servers="127.0.0.1:9", has_authorizer=False).save(
        KAFKA_BLOCK, overwrite=True
    )

    state = grant({"kind": "kafka-acl", "permission": "read"})

    assert state.is_failed()
    assert "has no authorizer" in str(state.message)
    assert grants(registry_url, status=None) == []


def approved(sink: Sink, call: Any) -> Any:
    """Run `call`, approving as carol; the run's final state."""
    thread, out = in_thread(call)
    approve(sink, to="carol")
    thread.join(30)
    sink.clear()
    return out[0]


def test_revoking_someone_else_waits_for_approval_and_is_idempotent(
    orders: None, fake_github: FakeGitHubControl, sink: Sink, registry_url: str
) -> None:
    member = {"kind": "github-team", "permission": "member"}
    assert approved(sink, lambda: grant(member)).is_completed()

    state = approved(sink, lambda: revoke(member))

    assert state.is_completed(), state.message
    assert state.result().changed and state.result().approver == "carol"
    assert "erin" not in team_members(fake_github, "payments")
    assert grants(registry_url, status=None) == [("github-team:member@staging", "revoked", "carol")]

    again = approved(sink, lambda: revoke(member))

    assert again.is_completed(), again.message
    assert again.result().changed is False


def test_revoking_your_own_access_needs_no_approval(
    orders: None, fake_github: FakeGitHubControl, sink: Sink, registry_url: str
) -> None:
    own = {"person": "dave", "kind": "github-repository", "permission": "pull"}
    assert grant(own).is_completed()

    state = revoke(own)

    assert state.is_completed(), state.message
    assert state.result().changed and state.result().approver is None
    assert sink.messages("carol") == []
    assert grants(registry_url, person="dave", status=None) == [
        ("github-repository:pull@staging", "revoked", None)
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "github-team", "permission": "admin"}, "not one of member, maintainer"),
        ({"kind": "aws-iam", "permission": "push"}, "not one of read, write"),
        ({"kind": "s3", "permission": "read"}, "kind"),
        ({"kind": "aws-iam", "permission": "read", "reason": "because"}, "at least 10"),
        ({"kind": "aws-iam", "permission": "read", "expires_in_days": 91}, "less than or equal"),
        ({"kind": "aws-iam", "permission": "read", "expires_in_days": 0}, "greater than or equal"),
        ({"kind": "aws-iam", "permission": "read", "environment": "dev"}, "environment"),
    ],
)
def test_bad_requests_are_refused_by_the_model(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AccessGrantRequest.model_validate({**BASE, **change})


def test_an_unknown_person_or_outsider_requester_fails_before_any_call(
    orders: None, fake_github: FakeGitHubControl, registry_url: str
) -> None:
    unknown = grant({"kind": "github-repository", "permission": "pull", "person": "zed"})
    outsider = grant({"kind": "github-repository", "permission": "pull", "requester": "erin"})

    assert unknown.is_failed() and "no person 'zed'" in str(unknown.message)
    assert outsider.is_failed() and "not a member of team 'payments'" in str(outsider.message)
    assert fake_github.requests(writes_only=True) == []
    assert grants(registry_url, status=None) == []
