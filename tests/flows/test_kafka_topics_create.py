"""`kafka:topics:create` against the real Tansu broker and a real registry, in-process.

The service `orders` (team payments, owner carol; dave is a member) is written to the
registry directly: the action acts on an existing service and needs nothing from GitHub.
Topics are checked through confluent-kafka's AdminClient; Tansu stores the configs it is
given (it validates none) and `describe_configs` returns exactly those.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import StateType

from blocks import KAFKA_BLOCK, KafkaCluster
from flows.actions.kafka_topics_create import (
    TopicsCreateRequest,
    TopicsCreateResult,
    kafka_topics_create,
)
from registry import queries
from registry.db import make_engine, session_scope
from registry.domains import grant_topic_domain
from registry.errors import Conflict
from registry.models import Provider, ResourceStatus, ServiceStatus
from sandbox.launch import tansu
from tests.conftest import free_port
from tests.servers import running

pytestmark = pytest.mark.usefixtures("paved_blocks", "kafka_cluster", "orders")

REQUEST: dict[str, Any] = {"service": "orders", "requester": "dave"}
STATE = "payments.orders.state"
EVENTS = "payments.orders.events"
WEEK_MS = "604800000"


@pytest.fixture
def orders(registry_url: str) -> None:
    """The existing service `orders` of team payments, owned by carol."""
    with registry(registry_url) as session:
        queries.get_or_create_service(session, name="orders", team="payments", owner="carol")
        queries.set_service_status(session, name="orders", status=ServiceStatus.ACTIVE)


def run(request: dict[str, Any]) -> Any:
    return kafka_topics_create(request=request, return_state=True)


def registry(url: str) -> Any:
    return session_scope(make_engine(url))


def admin(cluster: KafkaCluster) -> AdminClient:
    return cluster.get_admin_client()


def topics(cluster: KafkaCluster) -> set[str]:
    return {name for name in admin(cluster).list_topics(timeout=5).topics if ".orders." in name}


def configs(cluster: KafkaCluster, name: str) -> dict[str, str]:
    resource = ConfigResource(ResourceType.TOPIC, name)
    client = admin(cluster)  # held: a collected client cancels its pending futures
    entries = client.describe_configs([resource], request_timeout=5)[resource].result()
    return {key: entry.value for key, entry in entries.items()}


def partitions(cluster: KafkaCluster, name: str) -> int:
    return len(admin(cluster).list_topics(topic=name, timeout=5).topics[name].partitions)


def precreate(cluster: KafkaCluster, name: str, *, count: int, retention: str) -> None:
    config = {"cleanup.policy": "delete", "retention.ms": retention}
    client = admin(cluster)
    client.create_topics([NewTopic(name, count, 1, config=config)])[name].result()


def precreate_ours(
    cluster: KafkaCluster, url: str, name: str, *, count: int, retention: str
) -> None:
    """A topic an earlier run made for `orders` (recorded in the registry), since changed."""
    precreate(cluster, name, count=count, retention=retention)
    with registry(url) as session:
        queries.upsert_resource(
            session,
            service="orders",
            provider=Provider.KAFKA,
            kind="kafka_topic",
            name=name,
            status=ResourceStatus.ACTIVE,
        )


def test_creates_state_and_events_topics_owned_in_the_registry(
    kafka_cluster: KafkaCluster, registry_url: str
) -> None:
    state = run(REQUEST)

    assert state.is_completed(), state.message
    result = state.result()
    assert isinstance(result, TopicsCreateResult)
    assert [(t.name, t.status) for t in result.topics] == [(STATE, "created"), (EVENTS, "created")]
    assert configs(kafka_cluster, STATE) == {"cleanup.policy": "compact"}
    assert configs(kafka_cluster, EVENTS) == {"cleanup.policy": "delete", "retention.ms": WEEK_MS}
    assert partitions(kafka_cluster, STATE) == partitions(kafka_cluster, EVENTS) == 3

    with registry(registry_url) as session:
        for name in (STATE, EVENTS):
            resource = queries.get_resource(
                session, provider=Provider.KAFKA, kind="kafka_topic", name=name
            )
            assert resource is not None and resource.status == ResourceStatus.ACTIVE
            assert resource.external_id == name and resource.error is None
            assert resource.tags["paved:owner"] == "carol"
            assert resource.tags["paved:cost-center"] == "cc-200"
            assert resource.tags["paved:managed-by"] == "paved"
            assert resource.spec["partitions"] == 3 and resource.spec["replication_factor"] == 1
            owner = queries.ownership_of(session, thing=name)
            assert owner is not None and (owner.service, owner.owner) == ("orders", "carol")
        assert resource.spec["configs"] == {"cleanup.policy": "delete", "retention.ms": WEEK_MS}
        depends_on = {
            d.depends_on_resource for d in queries.dependencies_of(session, service="orders")
        }
        assert depends_on == {("kafka", "kafka_topic", STATE), ("kafka", "kafka_topic", EVENTS)}
        journal = queries.journal_for_run(session, flow_run_id=str(state.state_details.flow_run_id))
        assert [entry.state for entry in journal] == ["Running", "Completed"]
        assert journal[-1].team == "payments" and journal[-1].requester == "dave"

    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(state.state_details.flow_run_id)
    assert flow_run.name == "create-topics/payments/orders"
    assert {"paved", "action:kafka:topics:create", "team:payments", "service:orders"} <= set(
        flow_run.tags
    )


def test_custom_domain_partitions_and_retention_then_rerun_is_unchanged(
    kafka_cluster: KafkaCluster, registry_url: str
) -> None:
    request = {
        **REQUEST,
        "domain": "checkout",
        "topics": [
            {"event": "order-placed", "purpose": "events", "partitions": 6, "retention_ms": 7200000}
        ],
    }
    with registry(registry_url) as session:
        grant_topic_domain(session, team="payments", domain="checkout")
    assert run(request).is_completed()

    state = run(request)

    assert state.is_completed(), state.message
    assert [(t.name, t.status) for t in state.result().topics] == [
        ("checkout.orders.order-placed", "unchanged")
    ]
    assert topics(kafka_cluster) == {"checkout.orders.order-placed"}
    assert partitions(kafka_cluster, "checkout.orders.order-placed") == 6
    assert configs(kafka_cluster, "checkout.orders.order-placed")["retention.ms"] == "7200000"
    with registry(registry_url) as session:
        assert len(queries.find_resources(session, service="orders")) == 1


def test_a_differently_configured_topic_is_a_conflict_until_update_existing(
    kafka_cluster: KafkaCluster, registry_url: str
) -> None:
    precreate_ours(kafka_cluster, registry_url, EVENTS, count=3, retention="3600000")

    state = run(REQUEST)

    assert state.type == StateType.FAILED
    with pytest.raises(
        Exception,
        match=r"1 of 2 topics .* left untouched: payments\.orders\.events: retention\.ms is "
        r"3600000 on the cluster, 604800000 requested.*update_existing=true",
    ):
        state.result()
    assert configs(kafka_cluster, EVENTS)["retention.ms"] == "3600000", "left untouched"
    assert configs(kafka_cluster, STATE) == {"cleanup.policy": "compact"}, "the other is made"
    with registry(registry_url) as session:
        events = queries.get_resource(
            session, provider=Provider.KAFKA, kind="kafka_topic", name=EVENTS
        )
        assert events is not None and events.status == ResourceStatus.FAILED
        assert "retention.ms is 3600000 on the cluster" in (events.error or "")
        other = queries.get_resource(
            session, provider=Provider.KAFKA, kind="kafka_topic", name=STATE
        )
        assert other is not None and other.status == ResourceStatus.ACTIVE

    state = run({**REQUEST, "update_existing": True})

    assert state.is_completed(), state.message
    assert [(t.name, t.status) for t in state.result().topics] == [
        (STATE, "unchanged"),
        (EVENTS, "updated"),
    ]
    assert configs(kafka_cluster, EVENTS) == {"cleanup.policy": "delete", "retention.ms": WEEK_MS}
    with registry(registry_url) as session:
        events = queries.get_resource(
            session, provider=Provider.KAFKA, kind="kafka_topic", name=EVENTS
        )
        assert events is not None and events.status == ResourceStatus.ACTIVE
        assert events.error is None


def test_a_partition_difference_stays_a_conflict_with_update_existing(
    kafka_cluster: KafkaCluster, registry_url: str
) -> None:
    precreate_ours(kafka_cluster, registry_url, EVENTS, count=1, retention="3600000")

    state = run({**REQUEST, "update_existing": True})

    assert state.type == StateType.FAILED
    with pytest.raises(Conflict, match=r"partitions is 1 on the cluster, 3 requested \(Paved"):
        state.result()
    assert configs(kafka_cluster, EVENTS)["retention.ms"] == "3600000"
    assert partitions(kafka_cluster, EVENTS) == 1


@pytest.mark.parametrize("made_by", ["hand", "another service"])
def test_an_existing_topic_that_is_not_ours_is_refused_before_any_change(
    kafka_cluster: KafkaCluster, registry_url: str, made_by: str
) -> None:
    precreate(kafka_cluster, EVENTS, count=3, retention="3600000")
    if made_by == "another service":
        with registry(registry_url) as session:
            queries.get_or_create_service(session, name="billing", team="payments", owner="carol")
            queries.upsert_resource(
                session,
                service="billing",
                provider=Provider.KAFKA,
                kind="kafka_topic",
                name=EVENTS,
                status=ResourceStatus.ACTIVE,
            )

    state = run({**REQUEST, "update_existing": True})

    assert state.type == StateType.FAILED
    why = "the registry has no record of it" if made_by == "hand" else "service 'billing'"
    with pytest.raises(Conflict, match=r"Kafka topics exist that are not service 'orders'") as e:
        state.result()
    assert f"payments.orders.events ({why}" in str(e.value)
    assert topics(kafka_cluster) == {EVENTS}, "nothing else is made"
    assert configs(kafka_cluster, EVENTS)["retention.ms"] == "3600000", "left untouched"
    with registry(registry_url) as session:
        assert queries.find_resources(session, service="orders") == []


@pytest.mark.parametrize(
    ("domain", "kind", "says"),
    [
        (
            "paved",
            "PolicyViolation",
            "topic domain 'paved' is reserved: topics `paved.*` are Paved's own",
        ),
        (
            "platform",
            "NotAuthorized",
            "team 'payments' may not name topics `platform.*`: its topic domains are",
        ),
    ],
)
def test_a_domain_that_is_not_the_teams_is_refused_before_any_side_effect(
    kafka_cluster: KafkaCluster, registry_url: str, domain: str, kind: str, says: str
) -> None:
    state = run({**REQUEST, "domain": domain})

    raised, message = refused(state)
    assert raised == kind, message
    assert says in message
    assert topics(kafka_cluster) == set()
    with registry(registry_url) as session:
        assert queries.find_resources(session, service="orders") == []


def test_dry_run_creates_nothing(kafka_cluster: KafkaCluster, registry_url: str) -> None:
    state = run({**REQUEST, "dry_run": True})

    assert state.is_completed(), state.message
    result = state.result()
    assert result.dry_run and [t.status for t in result.topics] == ["planned", "planned"]
    assert topics(kafka_cluster) == set()
    with registry(registry_url) as session:
        assert queries.find_resources(session, service="orders") == []


def events_topic(**fields: Any) -> dict[str, Any]:
    return {"topics": [{"event": "events", "purpose": "events", **fields}]}


# name -> (request change, the class refused with, what its message says). A request the
# model refuses fails Prefect's parameter validation (ParameterTypeError); a rule that needs
# the registry or the cluster's limits refuses in the flow, before any side effect.
BAD_REQUESTS = {
    "partitions over the limit": (
        events_topic(partitions=500),
        "PolicyViolation",
        "partitions 500 for payments.orders.events is over the cluster's limit of 48",
    ),
    "retention over the limit": (
        events_topic(retention_ms=100 * 86_400_000),
        "PolicyViolation",
        "retention_ms 8640000000 for payments.orders.events is over the cluster's limit",
    ),
    "retention under an hour": (
        events_topic(retention_ms=1000),
        "ParameterTypeError",
        "retention_ms: Input should be greater than or equal to 3600000",
    ),
    "retention on a state topic": (
        {"topics": [{"event": "state", "purpose": "state", "retention_ms": 7200000}]},
        "ParameterTypeError",
        "topic event 'state' is a state topic",
    ),
    "bad event name": (
        events_topic(event="Order_Placed"),
        "ParameterTypeError",
        "topic event 'Order_Placed' is not allowed",
    ),
    "dotted event name": (
        events_topic(event="order.placed"),
        "ParameterTypeError",
        "topic event 'order.placed' is not allowed: it contains '.'",
    ),
    "bad domain": ({"domain": "Pay Ments"}, "ParameterTypeError", "topic domain 'Pay Ments'"),
    "duplicate topics": (
        {"topics": [{"event": "events", "purpose": "events"}] * 2},
        "PolicyViolation",
        "payments.orders.events is asked for twice",
    ),
    "no topics": ({"topics": []}, "ParameterTypeError", "topics: List should have at least 1"),
    "unknown service": ({"service": "billing"}, "NotFound", "billing"),
    "requester outside the team": (
        {"requester": "alice"},
        "NotAuthorized",
        "'alice' is not a member",
    ),
}


@pytest.mark.parametrize(("change", "kind", "says"), BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_bad_requests_are_rejected_before_any_side_effect(
    kafka_cluster: KafkaCluster,
    registry_url: str,
    change: dict[str, Any],
    kind: str,
    says: str,
) -> None:
    state = run({**REQUEST, **change})

    raised, message = refused(state)
    assert raised == kind, message
    assert says in message
    assert topics(kafka_cluster) == set()
    with registry(registry_url) as session:
        assert queries.find_resources(session, service="orders") == []


def refused(state: Any) -> tuple[str, str]:
    """The class name and message of what a failed run raised: the test names the class,
    so another error that happens to mention the same words does not pass."""
    assert state.type == StateType.FAILED
    with pytest.raises(Exception) as raised:  # the class is asserted by the caller
        state.result()
    return type(raised.value).__name__, str(raised.value)


class ListeningLater:
    """Starts a broker on `port` once the first attempt of a task has failed, and keeps
    it running until stopped: the broker is down when the run starts, up for a retry."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.first_retry = threading.Event()
        self.stop = threading.Event()
        self.started = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.handler = _RetryWatcher(self.first_retry)

    def _serve(self) -> None:
        if not self.first_retry.wait(timeout=30):
            return
        with running(tansu(host="127.0.0.1", port=self.port)):
            self.started.set()
            self.stop.wait(timeout=60)

    def __enter__(self) -> ListeningLater:
        logging.getLogger("prefect.task_runs").addHandler(self.handler)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("prefect.task_runs").removeHandler(self.handler)
        self.first_retry.set()
        self.stop.set()
        self.thread.join(timeout=30)


class _RetryWatcher(logging.Handler):
    def __init__(self, event: threading.Event) -> None:
        super().__init__()
        self.event = event

    def emit(self, record: logging.LogRecord) -> None:
        if "TransientProviderError" in record.getMessage() and "Retry 1/" in record.getMessage():
            self.event.set()


@pytest.fixture
def broker_down_at_first(kafka_cluster: KafkaCluster) -> Iterator[ListeningLater]:
    """The `paved-kafka` block pointed at a port where nothing listens yet."""
    port = free_port()
    KafkaCluster(bootstrap_servers=f"127.0.0.1:{port}", request_timeout_seconds=1).save(
        KAFKA_BLOCK, overwrite=True
    )
    with ListeningLater(port) as later:
        yield later


def test_broker_down_at_first_is_retried_until_the_run_succeeds(
    broker_down_at_first: ListeningLater, registry_url: str
) -> None:
    state = run({**REQUEST, "topics": [{"event": "events", "purpose": "events"}]})

    assert state.is_completed(), state.message
    assert broker_down_at_first.started.is_set(), "the broker came up only after a failure"
    assert [(t.name, t.status) for t in state.result().topics] == [(EVENTS, "created")]
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=[state.state_details.flow_run_id])
            )
        )
    # The first call to the broker is the check that no existing topic is another's.
    [describe] = [r for r in runs if r.name.startswith("kafka: describe topic")]
    assert describe.run_count >= 2, "the first attempt met no broker"
    with registry(registry_url) as session:
        resource = queries.get_resource(
            session, provider=Provider.KAFKA, kind="kafka_topic", name=EVENTS
        )
        assert resource is not None and resource.status == ResourceStatus.ACTIVE


class RefusingCreate:
    """The real AdminClient whose create_topics answers POLICY_VIOLATION, the refusal a
    real cluster's create-topic policy gives: Tansu validates nothing, so never refuses."""

    calls = 0

    def __init__(self, real: AdminClient) -> None:
        self.real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def create_topics(self, new_topics: list[NewTopic], **kwargs: Any) -> dict[str, Future[None]]:
        RefusingCreate.calls += 1
        futures: dict[str, Future[None]] = {}
        for topic in new_topics:
            future: Future[None] = Future()
            error = KafkaError(KafkaError.POLICY_VIOLATION, "retention.ms above the policy")
            future.set_exception(KafkaException(error))
            futures[topic.topic] = future
        return futures


def test_a_permanent_refusal_fails_at_once_and_rerun_converges(
    kafka_cluster: KafkaCluster, registry_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_admin_client = KafkaCluster.get_admin_client
    monkeypatch.setattr(
        KafkaCluster, "get_admin_client", lambda self: RefusingCreate(real_admin_client(self))
    )
    RefusingCreate.calls = 0

    state = run(REQUEST)

    assert state.type == StateType.FAILED
    # Both topics are made at once (neither needs the other), so each is refused once;
    # which refusal the run reports first is the one that answered first.
    with pytest.raises(
        Exception,
        match=r"kafka ensure topic failed for payments\.orders\.(state|events): POLICY_VIOLATION",
    ):
        state.result()
    assert RefusingCreate.calls == 2, "each topic is tried once: a refusal is not retried"
    with registry(registry_url) as session:
        for name in (STATE, EVENTS):
            resource = queries.get_resource(
                session, provider=Provider.KAFKA, kind="kafka_topic", name=name
            )
            assert resource is not None and resource.status == ResourceStatus.FAILED, name
            assert "POLICY_VIOLATION" in (resource.error or ""), name

    monkeypatch.undo()
    state = run(REQUEST)

    assert state.is_completed(), state.message
    assert topics(kafka_cluster) == {STATE, EVENTS}
    with registry(registry_url) as session:
        statuses = {r.name: r.status for r in queries.find_resources(session, service="orders")}
    assert statuses == {STATE: ResourceStatus.ACTIVE, EVENTS: ResourceStatus.ACTIVE}


def test_request_model_describes_every_field() -> None:
    schema = TopicsCreateRequest.model_json_schema()
    assert schema["additionalProperties"] is False
    for name, field in schema["properties"].items():
        assert field.get("description"), name
    topic_schema = schema["$defs"]["TopicRequest"]
    assert topic_schema["additionalProperties"] is False
    for name, field in topic_schema["properties"].items():
        assert field.get("description"), name
