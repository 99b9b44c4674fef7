"""The engine (flows.engine): plans as values, and apply against a real registry.

The ensure steps here are a plain Prefect task that sleeps and records when it ran: the
engine is what is under test, not a provider.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest
from prefect import flow, task
from sqlalchemy import event
from sqlalchemy.engine import Engine

from blocks import AWS_BLOCK, AwsAccount, load_block
from flows.actions.aws_compute_create import ComputeCreateRequest, compute_plan
from flows.actions.aws_storage_create import StorageCreateRequest, storage_ensurers, storage_plan
from flows.engine.action import Summary
from flows.engine.apply import (
    Applied,
    Ensure,
    Submitted,
    Waits,
    apply_plan,
    by_key,
    write_plan_ahead,
)
from flows.engine.cleanup import clean_up_after_failure, existing_resources
from flows.engine.context import ServiceContext
from flows.engine.plan import Plan, PlannedResource, ResourceRef, render, union
from registry import policy, queries
from registry.db import make_engine, session_scope
from registry.models import Provider, ResourceStatus
from tests.flows.aws_faults import installed

CONTEXT = ServiceContext(
    service="orders",
    team="payments",
    owner="carol",
    cost_center="cc-200",
    change_approver=None,
    oncall=None,
    tags={"paved:service": "orders"},
)
# The tags a real run puts on resources: clean-up removes only what carries them.
CONTEXT_WITH_POLICY_TAGS = CONTEXT.model_copy(
    update={
        "tags": policy.policy_tags(
            service="orders", team="payments", owner="carol", cost_center="cc-200"
        )
    }
)
RAN: dict[str, tuple[float, float]] = {}
_LOCK = threading.Lock()


def planned(name: str, *after: str, fail: bool = False) -> PlannedResource:
    ref = ResourceRef(service="orders", provider=Provider.AWS, kind="thing", name=name)
    return PlannedResource(
        ref=ref, spec={"fail": fail}, depends_on=[f"thing:{a}" for a in after], relation="uses"
    )


@task(name="test: make a thing")
def make_thing(name: str, *, fail: bool) -> str:
    started = time.monotonic()
    time.sleep(0.5)
    with _LOCK:
        RAN[name] = (started, time.monotonic())
    if fail:
        raise RuntimeError(f"{name} broke")
    return f"id-{name}"


def ensure_thing(item: PlannedResource, _: Mapping[str, Applied], wait: Waits) -> Submitted:
    future = make_thing.submit(
        item.ref.name, fail=item.spec["fail"], wait_for=wait, return_state=False
    )
    return Submitted(future, lambda r: Applied(external_id=r, created=True, changes=[r]))


@flow(name="test-apply")
def apply_in_a_run(plan: Plan) -> list[str]:
    done = apply_plan(plan, context=CONTEXT, ensure={"thing": ensure_thing}, flow_run_id="r1")
    return [applied.external_id for _, applied in done]


@pytest.fixture
def orders(paved_blocks: None, registry_url: str) -> Iterator[str]:
    RAN.clear()
    with session_scope(make_engine(registry_url)) as session:
        queries.get_or_create_service(session, name="orders", team="payments", owner="carol")
    yield registry_url


@pytest.fixture
def commits() -> Iterator[list[str]]:
    seen: list[str] = []

    def count(connection: Any) -> None:
        seen.append(str(connection.engine.url))

    event.listen(Engine, "commit", count)
    yield seen
    event.remove(Engine, "commit", count)


# --- plans: pure values ---------------------------------------------------------------


def test_a_plan_refuses_unknown_dependencies_and_cycles() -> None:
    with pytest.raises(ValueError, match="unplanned"):
        Plan(action="a", service="orders", resources=[planned("a", "ghost")])
    with pytest.raises(ValueError, match="cycle"):
        Plan(action="a", service="orders", resources=[planned("a", "b"), planned("b", "a")])
    with pytest.raises(ValueError, match="twice"):
        Plan(action="a", service="orders", resources=[planned("a"), planned("a")])


def test_waves_follow_the_dependencies() -> None:
    plan = Plan(
        action="a",
        service="orders",
        resources=[planned("c", "a", "b"), planned("a"), planned("b"), planned("d", "c")],
    )
    assert [[item.ref.name for item in wave] for wave in plan.waves()] == [
        ["a", "b"],
        ["c"],
        ["d"],
    ]


def test_compute_plan_is_a_pure_value_with_its_dependencies() -> None:
    request = ComputeCreateRequest(service="orders", requester="dave", size="large")
    plan = compute_plan(request, CONTEXT, cluster="paved-shared", region="eu-west-1")

    app = "payments-orders-app"
    assert [[i.key for i in wave] for wave in plan.waves()] == [
        [f"ecr_repository:{app}", "cloudwatch_log_group:/paved/payments/orders"],
        [f"ecs_task_definition:{app}"],
        [f"ecs_service:{app}"],
    ]
    definition = plan.get(f"ecs_task_definition:{app}")
    assert (definition.spec["cpu"], definition.spec["memory"]) == (1024, 2048)
    assert all(i.spec["region"] == "eu-west-1" and i.relation == "runs-on" for i in plan.resources)
    assert plan == compute_plan(request, CONTEXT, cluster="paved-shared", region="eu-west-1")
    shown = render(plan, region="eu-west-1", owner="carol", team="payments", tags=CONTEXT.tags)
    assert f"- ecs_service `{app}` exists with" in shown
    assert f"(after ecs_task_definition:{app})" in shown


def test_storage_plan_is_what_was_asked_with_the_queue_after_its_dlq() -> None:
    everything = storage_plan(
        StorageCreateRequest(service="orders", requester="dave"), CONTEXT, "us-east-1"
    )

    dlq, queue = "sqs_queue:payments-orders-jobs-dlq", "sqs_queue:payments-orders-jobs"
    assert [[i.key for i in wave] for wave in everything.waves()] == [
        ["s3_bucket:payments-orders-data", dlq],
        [queue],
        ["dynamodb_table:payments-orders-state"],
    ]
    assert everything.get(queue).depends_on == [dlq]
    assert everything.get("dynamodb_table:payments-orders-state").depends_on == []
    assert all(item.relation == "stores" for item in everything.resources)
    only_table = storage_plan(
        StorageCreateRequest(service="orders", requester="dave", bucket=False, queue=False),
        CONTEXT,
        "eu-west-1",
    )
    assert [(i.key, i.after, i.spec["region"]) for i in only_table.resources] == [
        ("dynamodb_table:payments-orders-state", [], "eu-west-1")
    ]


def test_summary_of_a_dry_run_and_of_a_run() -> None:
    a, b = planned("a"), planned("b")
    assert Summary.of([(a, None), (b, None)]).dry_run
    made = Applied(external_id="x", created=True, changes=["made a"])
    same = Applied(external_id="y", created=False, changes=[])
    summary = Summary.of([(a, made), (b, same)])
    assert (summary.created, summary.unchanged, summary.changes) == (["a"], ["b"], ["made a"])
    assert not summary.dry_run


def test_a_dependency_may_be_given_by_an_earlier_run_and_a_union_plans_it() -> None:
    repo = Applied(external_id="acme/orders", created=False, changes=[])
    pipeline = Plan(
        action="b:make",
        service="orders",
        resources=[planned("workflow", "repo")],
        given={"thing:repo": repo},
    )
    assert [[i.key for i in wave] for wave in pipeline.waves()] == [["thing:workflow"]]
    with pytest.raises(ValueError, match="unplanned"):
        Plan(action="b:make", service="orders", resources=[planned("workflow", "repo")])

    both = union(
        "a:all",
        "orders",
        [Plan(action="a:make", service="orders", resources=[planned("repo")]), pipeline],
    )

    assert both.given == {}, "what one part plans is no longer given to the other"
    assert [[i.key for i in wave] for wave in both.waves()] == [["thing:repo"], ["thing:workflow"]]
    assert both.claims == ["a:all:orders", "a:make:orders", "b:make:orders"]
    with pytest.raises(ValueError, match="twice"):
        union("a:all", "orders", [both, both])


@task(name="test: read what was given")
def read_given(upstream_id: str) -> str:
    return f"{upstream_id}/file"


def test_apply_reads_given_resources_and_records_shared_ones_for_no_service(
    orders: str,
) -> None:
    seen: dict[str, Mapping[str, Applied]] = {}

    def workflow(item: PlannedResource, upstream: Mapping[str, Applied], wait: Waits) -> Submitted:
        seen[item.key] = upstream
        future = read_given.submit(
            upstream["thing:repo"].external_id, wait_for=wait, return_state=False
        )
        return Submitted(future, lambda r: Applied(external_id=r, created=True, changes=[]))

    shared = planned("provider")
    shared.shared = True
    plan = Plan(
        action="test:apply",
        service="orders",
        resources=[shared, planned("workflow", "repo", "provider")],
        given={"thing:repo": Applied(external_id="acme/orders", created=False, changes=[])},
    )
    ensurers: dict[str, Ensure] = {"thing": ensure_thing, "thing:workflow": workflow}

    @flow(name="test-apply-given")
    def apply_given() -> list[str]:
        done = apply_plan(plan, context=CONTEXT, ensure=ensurers, flow_run_id="r1")
        return [applied.external_id for _, applied in done]

    assert apply_given() == ["id-provider", "acme/orders/file"]
    assert set(seen["thing:workflow"]) == {"thing:repo", "thing:provider"}
    with session_scope(make_engine(orders)) as session:
        mine = {r.name for r in queries.find_resources(session, service="orders")}
        provider = queries.get_resource(
            session, provider=Provider.AWS, kind="thing", name="provider"
        )
        depends = {
            d.depends_on_resource for d in queries.dependencies_of(session, service="orders")
        }
        assert mine == {"workflow"}, "the given repo is not rewritten, the shared one is no one's"
        assert provider is not None and provider.service is None
        assert provider.status == ResourceStatus.ACTIVE
        assert ("aws", "thing", "provider") in depends


def test_by_key_gives_each_resource_its_own_parts_ensurer() -> None:
    plan = Plan(action="a", service="orders", resources=[planned("a"), planned("b")])
    assert by_key(plan, {"thing": ensure_thing}) == {
        "thing:a": ensure_thing,
        "thing:b": ensure_thing,
    }


# --- apply: against the registry -------------------------------------------------------


def test_apply_runs_independent_resources_at_once_and_dependents_after(
    orders: str, commits: list[str]
) -> None:
    plan = Plan(
        action="test:apply",
        service="orders",
        resources=[planned("a"), planned("b"), planned("c", "a", "b")],
    )

    assert apply_in_a_run(plan) == ["id-a", "id-b", "id-c"]

    (a_start, a_end), (b_start, b_end), (c_start, _) = RAN["a"], RAN["b"], RAN["c"]
    assert a_start < b_end and b_start < a_end, "a and b ran at the same time"
    assert c_start >= max(a_end, b_end), "c waited for both"
    with session_scope(make_engine(orders)) as session:
        found = {r.name: r for r in queries.find_resources(session, service="orders")}
        assert {n: (r.status, r.external_id) for n, r in found.items()} == {
            n: (ResourceStatus.ACTIVE, f"id-{n}") for n in "abc"
        }
        assert {d.depends_on_resource for d in queries.dependencies_of(session, service="orders")}
        assert queries.require_service(session, name="orders").status == "active"


def test_the_whole_plan_is_written_ahead_in_one_transaction(
    orders: str, commits: list[str]
) -> None:
    plan = Plan(
        action="test:apply",
        service="orders",
        resources=[planned("a"), planned("b"), planned("c", "a")],
    )
    registry_commits = len([url for url in commits if "sqlite" in url])

    write_plan_ahead.fn(plan, team="payments", owner="carol", tags=CONTEXT.tags)

    assert len([url for url in commits if "sqlite" in url]) - registry_commits == 1
    with session_scope(make_engine(orders)) as session:
        statuses = {r.name: r.status for r in queries.find_resources(session, service="orders")}
    assert statuses == dict.fromkeys("abc", ResourceStatus.PROVISIONING)


def test_a_failure_records_what_was_made_what_failed_and_what_could_not_be(orders: str) -> None:
    # a fails; b runs beside it and is made; c needs a; d needs c.
    plan = Plan(
        action="test:apply",
        service="orders",
        resources=[planned("a", fail=True), planned("b"), planned("c", "a"), planned("d", "c")],
    )

    state = apply_in_a_run(plan, return_state=True)

    assert state.is_failed()
    with pytest.raises(RuntimeError, match="a broke"):
        state.result()
    assert "c" not in RAN and "d" not in RAN
    with session_scope(make_engine(orders)) as session:
        found = {r.name: r for r in queries.find_resources(session, service="orders")}
        assert found["b"].status == ResourceStatus.ACTIVE
        assert found["a"].status == ResourceStatus.FAILED and "a broke" in (found["a"].error or "")
        assert found["c"].status == found["d"].status == ResourceStatus.FAILED
        assert "not made: thing:a failed: a broke" in (found["c"].error or "")
        # Half made, never whole: the service is failed, not active.
        assert queries.require_service(session, name="orders").status == "failed"
        # The claim is released: the next run may start.
        queries.claim(session, key="test:apply:orders", holder="r2", action="test:apply")


def test_a_failure_leaves_an_active_service_active_and_a_rerun_makes_a_failed_one_active(
    orders: str,
) -> None:
    broken = Plan(
        action="test:apply",
        service="orders",
        resources=[planned("a", fail=True), planned("b")],
    )
    assert apply_in_a_run(broken, return_state=True).is_failed()
    whole = Plan(action="test:apply", service="orders", resources=[planned("a"), planned("b")])

    assert apply_in_a_run(whole) == ["id-a", "id-b"]
    with session_scope(make_engine(orders)) as session:
        assert queries.require_service(session, name="orders").status == "active"

    assert apply_in_a_run(broken, return_state=True).is_failed()
    with session_scope(make_engine(orders)) as session:
        service = queries.require_service(session, name="orders")
        assert service.status == "active", "what it had still exists"
        found = {r.name: r.status for r in queries.find_resources(session, service="orders")}
        assert found == {"a": ResourceStatus.FAILED, "b": ResourceStatus.ACTIVE}


# --- clean-up after a failure: only what the run created --------------------------------


@flow(name="test-apply-then-clean-up")
def storage_then_clean_up(request: StorageCreateRequest, before: list[Any]) -> list[str]:
    account = load_block(AwsAccount, AWS_BLOCK)
    plan = storage_plan(request, CONTEXT_WITH_POLICY_TAGS, account.region)
    ensure = storage_ensurers(account, CONTEXT_WITH_POLICY_TAGS.tags)
    try:
        apply_plan(plan, context=CONTEXT_WITH_POLICY_TAGS, ensure=ensure, flow_run_id="r3")
    except Exception as exc:
        done = clean_up_after_failure(
            action="test:storage",
            service="orders",
            team="payments",
            requester="dave",
            before={tuple(key) for key in before},
            cause=exc,
            flow_run_id="r3",
        )
        return done.removed
    return []


def test_clean_up_removes_only_what_the_failed_run_created(
    orders: str, aws_account: AwsAccount
) -> None:
    bucket = "payments-orders-data"
    first = StorageCreateRequest(service="orders", requester="dave", queue=False, table=False)
    assert storage_then_clean_up(first, []) == []  # a previous run made the bucket
    before = sorted(existing_resources.fn(service="orders"))
    with contextmanager(installed)() as faults:
        faults.add("dynamodb.CreateTable", status=400, code="AccessDeniedException", times=100)
        # The table is made after the queues; it fails, the run cleans up.
        removed = storage_then_clean_up(
            StorageCreateRequest(service="orders", requester="dave"), before
        )

    assert sorted(removed) == [
        "dynamodb_table payments-orders-state",
        "sqs_queue payments-orders-jobs",
        "sqs_queue payments-orders-jobs-dlq",
    ]
    assert aws_account.get_client("sqs").list_queues().get("QueueUrls", []) == []
    assert aws_account.get_client("s3").head_bucket(Bucket=bucket)  # kept: not this run's
    with session_scope(make_engine(orders)) as session:
        status = {r.name: r.status for r in queries.find_resources(session, service="orders")}
    assert status[bucket] == ResourceStatus.ACTIVE
    assert status["payments-orders-jobs"] == ResourceStatus.RETIRED
