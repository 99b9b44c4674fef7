"""The golden path end to end, in-process, against every local server: service:create,
two concurrent creates, clean-up after a failure, service:transfer and
service:decommission (with the change approver's one-time code)."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any

import pytest
from github import Github
from prefect.client.schemas.objects import StateType

from blocks import AwsAccount, KafkaCluster
from flows.actions.service_create import ServiceCreateResult, service_create
from flows.actions.service_decommission import service_decommission
from flows.actions.service_transfer import service_transfer
from registry import queries
from registry.db import make_engine, session_scope
from registry.errors import Conflict
from registry.models import ResourceStatus, ServiceStatus
from sandbox.fake_github import FakeGitHubControl
from tests.flows.aws_faults import installed
from tests.flows.notify_helpers import Sink, approve, in_thread

pytestmark = pytest.mark.usefixtures(
    "paved_blocks", "aws_account", "kafka_cluster", "notify_channels"
)

ORDERS: dict[str, Any] = {
    "name": "orders",
    "team": "payments",
    "owner": "carol",
    "requester": "dave",
    "storage": ["bucket", "queue", "table"],
}
POLICY_TAGS = {
    "paved:service": "orders",
    "paved:team": "payments",
    "paved:owner": "carol",
    "paved:cost-center": "cc-200",
    "paved:managed-by": "paved",
}


def registry(url: str) -> Any:
    return session_scope(make_engine(url))


def create(**changes: Any) -> Any:
    return service_create(request={**ORDERS, **changes}, return_state=True)


def bucket_tags(aws: AwsAccount, name: str) -> dict[str, str]:
    tag_set = aws.get_client("s3").get_bucket_tagging(Bucket=name)["TagSet"]
    return {tag["Key"]: tag["Value"] for tag in tag_set}


def test_create_makes_the_whole_service_and_a_rerun_changes_nothing(
    fake_github: FakeGitHubControl,
    github: Github,
    aws_account: AwsAccount,
    kafka_cluster: KafkaCluster,
    registry_url: str,
) -> None:
    state = create()

    assert state.is_completed(), state.message
    result = state.result()
    assert isinstance(result, ServiceCreateResult)
    assert (result.owner, result.change_approver, result.oncall, result.cost_watcher) == (
        "carol",
        "carol",
        "carol",
        "carol",
    )
    repo = github.get_repo("acme/orders")
    assert {c.path for c in repo.get_contents(".github/workflows")} >= {  # type: ignore[union-attr]
        ".github/workflows/ci.yml",
        ".github/workflows/deploy.yml",
    }
    ecr = aws_account.get_client("ecr").describe_repositories()["repositories"]
    assert [r["repositoryName"] for r in ecr] == ["payments-orders-app"]
    services = aws_account.get_client("ecs").describe_services(
        cluster=aws_account.ecs_cluster, services=["payments-orders-app"]
    )["services"]
    assert services and services[0]["status"] == "ACTIVE"
    assert bucket_tags(aws_account, "payments-orders-data") == POLICY_TAGS
    topics = kafka_cluster.get_admin_client().list_topics(timeout=10).topics
    assert {"payments.orders.state", "payments.orders.events"} <= set(topics)

    with registry(registry_url) as session:
        owner = queries.ownership_of(session, thing="payments.orders.events")
        assert owner is not None and (owner.service, owner.owner) == ("orders", "carol")
        resources = queries.find_resources(session, service="orders")
        kinds = {r.kind for r in resources}
        assert kinds >= {
            "github_repository",
            "github_workflow",
            "github_environment",
            "iam_role",
            "ecr_repository",
            "ecs_service",
            "ecs_task_definition",
            "cloudwatch_log_group",
            "s3_bucket",
            "sqs_queue",
            "dynamodb_table",
            "kafka_topic",
        }
        assert all(r.status == ResourceStatus.ACTIVE and r.external_id for r in resources)
        assert queries.require_service(session, name="orders").status == ServiceStatus.ACTIVE
        # One request, one journal entry: the parts are planned and applied within it
        # (the union of their plans), not run as subflows journaled on their own.
        journal = queries.latest_journal(session, limit=50)
        assert [entry.action for entry in journal] == ["service:create"]
        assert journal[0].state == "Completed"

    fake_github.clear_requests()
    revisions = aws_account.get_client("ecs").list_task_definitions()["taskDefinitionArns"]

    again = create()

    assert again.is_completed(), again.message
    assert fake_github.requests(writes_only=True) == []
    assert aws_account.get_client("ecs").list_task_definitions()["taskDefinitionArns"] == revisions


def test_two_concurrent_creates_of_one_name_give_one_service_and_a_clear_conflict(
    fake_github: FakeGitHubControl, registry_url: str
) -> None:
    # The first run is held in the middle of its work (its ECS service call waits), so
    # the second surely arrives while the first holds the claim: no timing luck involved.
    with contextmanager(installed)() as faults:
        reached, release = faults.hold("ecs.CreateService")
        states: list[Any] = []
        first = threading.Thread(target=lambda: states.append(create(storage=[])))
        first.start()
        try:
            assert reached.wait(timeout=300), "the first run never reached ECS"
            second = create(storage=[])
        finally:
            release.set()
            first.join(timeout=300)

    assert [s.type for s in states] == [StateType.COMPLETED]
    assert second.type == StateType.FAILED
    with pytest.raises(Conflict, match="service:orders is being worked on by another run"):
        second.result()
    repos = [r for r in fake_github.state()["repositories"] if r["name"] == "orders"]
    assert len(repos) == 1
    with registry(registry_url) as session:
        keys = [
            (r.provider, r.kind, r.name) for r in queries.find_resources(session, service="orders")
        ]
        assert len(keys) == len(set(keys))


def test_cleanup_on_failure_removes_what_the_run_made_and_is_journaled(
    fake_github: FakeGitHubControl, aws_account: AwsAccount, registry_url: str, sink: Sink
) -> None:
    fake_github.add_fault(
        method="PUT", path=r"/repos/acme/orders/environments/production", status=403, times=10
    )

    state = create(storage=[], cleanup_on_failure=True)

    assert state.type == StateType.FAILED
    assert aws_account.get_client("ecr").describe_repositories()["repositories"] == []
    assert repo_archived(fake_github, "acme/orders")
    with registry(registry_url) as session:
        resources = queries.find_resources(session, service="orders")
        assert resources and all(r.status == ResourceStatus.RETIRED for r in resources)
        journal = queries.journal_for_run(session, flow_run_id=str(state.state_details.flow_run_id))
        cleanup = [e for e in journal if e.action == "service:create:cleanup"]
        assert cleanup and cleanup[0].state == "Completed"
    # The failed pipeline step failed the run: the requester and the on-call contact
    # hear about it once.
    for person in ("dave", "carol"):
        notices = sink.messages(person)
        assert len(notices) == 1, notices
        assert "service:create failed" in str(notices[0]["body"])


def repo_archived(fake: FakeGitHubControl, full_name: str) -> bool:
    repos = {r["full_name"]: r for r in fake.state()["repositories"]}
    return bool(repos[full_name]["archived"])


def test_transfer_moves_tags_codeowners_permissions_and_ownership(
    fake_github: FakeGitHubControl,
    github: Github,
    aws_account: AwsAccount,
    registry_url: str,
    sink: Sink,
) -> None:
    assert create(storage=["bucket"]).is_completed()
    request = {
        "service": "orders",
        "requester": "dave",
        "new_team": "platform",
        "new_owner": "bob",
        "reason": "platform runs order intake now",
    }

    thread, out = in_thread(lambda: service_transfer(request=request, return_state=True))
    # Nothing moves before carol, the change approver, approves.
    assert sink.wait_for("carol")
    assert bucket_tags(aws_account, "payments-orders-data")["paved:owner"] == "carol"
    approve(sink, to="carol")
    thread.join(timeout=120)

    state = out[0]
    assert state.is_completed(), state.message
    assert state.result().approver == "carol"
    tags = bucket_tags(aws_account, "payments-orders-data")
    assert (tags["paved:team"], tags["paved:owner"], tags["paved:cost-center"]) == (
        "platform",
        "bob",
        "cc-100",
    )
    codeowners = github.get_repo("acme/orders").get_contents("CODEOWNERS")
    assert "@acme/platform" in codeowners.decoded_content.decode()  # type: ignore[union-attr]
    repo = {r["full_name"]: r for r in fake_github.state()["repositories"]}["acme/orders"]
    assert repo["team_permissions"] == {"platform": "maintain"}
    assert "platform" in repo["topics"] and "payments" not in repo["topics"]
    with registry(registry_url) as session:
        owner = queries.ownership_of(session, thing="orders")
        assert owner is not None
        assert (owner.owner, owner.team, owner.change_approver) == ("bob", "platform", "alice")
        bucket = queries.get_resource(
            session, provider="aws", kind="s3_bucket", name="payments-orders-data"
        )
        assert bucket is not None and bucket.tags["paved:owner"] == "bob"


def test_decommission_after_approval_removes_everything_and_keeps_history(
    fake_github: FakeGitHubControl,
    aws_account: AwsAccount,
    kafka_cluster: KafkaCluster,
    registry_url: str,
    sink: Sink,
) -> None:
    assert create().is_completed()
    sink.clear()
    request = {
        "service": "orders",
        "requester": "dave",
        "confirm": "orders",
        "reason": "replaced by the ledger service",
        "approval_timeout_seconds": 60,
    }

    thread, out = in_thread(lambda: service_decommission(request=request, return_state=True))
    approve(sink, to="carol")
    thread.join(timeout=300)

    state = out[0]
    assert state.is_completed(), state.message
    assert state.result().approver == "carol"
    assert aws_account.get_client("s3").list_buckets()["Buckets"] == []
    assert aws_account.get_client("ecr").describe_repositories()["repositories"] == []
    topics = kafka_cluster.get_admin_client().list_topics(timeout=10).topics
    assert not any(name.startswith("payments.orders.") for name in topics)
    assert repo_archived(fake_github, "acme/orders")
    with registry(registry_url) as session:
        service = queries.require_service(session, name="orders")
        assert service.status == ServiceStatus.RETIRED
        resources = queries.find_resources(session, service="orders")
        assert resources and {r.status for r in resources} <= {
            ResourceStatus.RETIRED,
            ResourceStatus.ACTIVE,  # the account-wide OIDC provider is shared, never removed
        }

    again = service_decommission(request=request, return_state=True)
    assert again.type == StateType.FAILED
    with pytest.raises(Conflict, match="already retired"):
        again.result()


def test_decommission_needs_the_name_twice() -> None:
    state = service_decommission(
        request={"service": "orders", "requester": "dave", "confirm": "order", "reason": "x" * 12},
        return_state=True,
    )
    assert state.type == StateType.FAILED
    assert "confirm must repeat the service name" in (state.message or "")


def test_dry_run_creates_nothing(
    fake_github: FakeGitHubControl, aws_account: AwsAccount, registry_url: str
) -> None:
    state = create(dry_run=True)

    assert state.is_completed(), state.message
    assert state.result().resources["kafka_topic"] == [
        "payments.orders.state",
        "payments.orders.events",
    ]
    assert fake_github.requests(writes_only=True) == []
    assert aws_account.get_client("s3").list_buckets()["Buckets"] == []
    with registry(registry_url) as session:
        assert queries.get_service(session, name="orders") is None
