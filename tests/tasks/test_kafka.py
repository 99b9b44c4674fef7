"""Kafka tasks against the real Tansu broker, called through `.fn` (no Prefect run needed).

Two cases the broker cannot produce use a stand-in AdminClient, each saying why: a
permanent error code (Tansu validates nothing, so it never refuses a topic) and ACLs
(Tansu aborts the calling process on CreateAcls, so no test may reach it).
"""

from __future__ import annotations

import gc
import uuid
from concurrent.futures import Future
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType
from prefect.logging import disable_run_logger

from blocks import KafkaCluster
from tasks.errors import PermanentProviderError, TransientProviderError
from tasks.kafka import (
    TopicAcl,
    TopicSpec,
    create_acl,
    delete_acl,
    delete_topic,
    describe_topic,
    ensure_topic,
    kafka_errors,
)
from tests.conftest import free_port


def unique(event: str) -> str:
    return f"tests.t{uuid.uuid4().hex[:8]}.{event}"


def configs(admin: AdminClient, name: str) -> dict[str, str]:
    resource = ConfigResource(ResourceType.TOPIC, name)
    entries = admin.describe_configs([resource], request_timeout=5)[resource].result()
    return {key: entry.value for key, entry in entries.items()}


def events_spec(name: str, *, retention: str = "604800000", partitions: int = 3) -> TopicSpec:
    return TopicSpec(
        name=name,
        partitions=partitions,
        replication_factor=1,
        configs={"cleanup.policy": "delete", "retention.ms": retention},
    )


# --- error classification ------------------------------------------------------------

TRANSIENT = [
    KafkaError._TRANSPORT,
    KafkaError._TIMED_OUT,
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError._MSG_TIMED_OUT,
    KafkaError.REQUEST_TIMED_OUT,
    KafkaError.NOT_CONTROLLER,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.BROKER_NOT_AVAILABLE,
    KafkaError.NETWORK_EXCEPTION,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
]
PERMANENT = [
    KafkaError.POLICY_VIOLATION,
    KafkaError.INVALID_CONFIG,
    KafkaError.INVALID_PARTITIONS,
    KafkaError.INVALID_REPLICATION_FACTOR,
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
]


@pytest.mark.parametrize("code", TRANSIENT, ids=lambda code: KafkaError(code).name())
def test_unreachable_broker_codes_are_transient(code: int) -> None:
    with (
        pytest.raises(TransientProviderError, match=r"a\.b\.c"),
        kafka_errors("ensure topic", "a.b.c"),
    ):
        raise KafkaException(KafkaError(code))


def test_an_error_kafka_marks_retriable_is_transient() -> None:
    with pytest.raises(TransientProviderError), kafka_errors("ensure topic", "a.b.c"):
        raise KafkaException(KafkaError(KafkaError.UNKNOWN, "flaky", retriable=True))


@pytest.mark.parametrize("code", PERMANENT, ids=lambda code: KafkaError(code).name())
def test_refusals_are_permanent_and_name_topic_and_code(code: int) -> None:
    says = rf"ensure topic failed for a\.b\.c: {KafkaError(code).name()}"
    with pytest.raises(PermanentProviderError, match=says), kafka_errors("ensure topic", "a.b.c"):
        raise KafkaException(KafkaError(code, "refused"))


def test_a_future_that_never_answers_is_transient() -> None:
    future: Future[None] = Future()
    with pytest.raises(TransientProviderError, match="no answer"), kafka_errors("ensure", "a.b.c"):
        future.result(timeout=0.01)


# --- topics on the real broker ---------------------------------------------------------


def test_ensure_creates_then_finds_the_topic_unchanged(cluster: KafkaCluster) -> None:
    name = unique("events")
    admin = cluster.get_admin_client()

    assert describe_topic.fn(cluster, name=name) is None
    assert name not in admin.list_topics(timeout=5).topics, "describing must not create it"

    created = ensure_topic.fn(cluster, spec=events_spec(name, partitions=4), update=False)
    again = ensure_topic.fn(cluster, spec=events_spec(name, partitions=4), update=False)

    assert created.status == "created"
    assert again.status == "unchanged" and again.differences == []
    assert len(admin.list_topics(topic=name, timeout=5).topics[name].partitions) == 4
    assert configs(admin, name) == {"cleanup.policy": "delete", "retention.ms": "604800000"}
    state = describe_topic.fn(cluster, name=name)
    assert state is not None
    assert (state.partitions, state.replication_factor) == (4, 1)
    assert state.configs == {"cleanup.policy": "delete", "retention.ms": "604800000"}


def test_other_configs_are_a_conflict_left_untouched_unless_update(
    cluster: KafkaCluster,
) -> None:
    name = unique("events")
    admin = cluster.get_admin_client()
    ensure_topic.fn(cluster, spec=events_spec(name, retention="3600000"), update=False)

    conflict = ensure_topic.fn(cluster, spec=events_spec(name), update=False)

    assert conflict.status == "conflict"
    [difference] = conflict.differences
    assert (difference.setting, difference.actual, difference.wanted) == (
        "retention.ms",
        "3600000",
        "604800000",
    )
    assert difference.fixable
    assert configs(admin, name)["retention.ms"] == "3600000"

    updated = ensure_topic.fn(cluster, spec=events_spec(name), update=True)

    assert updated.status == "updated"
    assert configs(admin, name) == {"cleanup.policy": "delete", "retention.ms": "604800000"}
    assert ensure_topic.fn(cluster, spec=events_spec(name), update=False).status == "unchanged"


def test_a_partition_difference_is_a_conflict_even_with_update(cluster: KafkaCluster) -> None:
    name = unique("events")
    admin = cluster.get_admin_client()
    ensure_topic.fn(
        cluster, spec=events_spec(name, partitions=1, retention="3600000"), update=False
    )

    outcome = ensure_topic.fn(cluster, spec=events_spec(name, partitions=3), update=True)

    assert outcome.status == "conflict"
    settings = {d.setting: d for d in outcome.differences}
    assert not settings["partitions"].fixable
    assert "cannot change" in settings["partitions"].describe()
    assert configs(admin, name)["retention.ms"] == "3600000", "nothing changed, configs included"


def test_ensure_tolerates_a_topic_created_between_describe_and_create(
    cluster: KafkaCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A retry after a create whose answer was lost finds TOPIC_ALREADY_EXISTS."""
    name = unique("events")
    real_admin = cluster.get_admin_client()
    real_admin.create_topics([NewTopic(name, 3, 1, config=events_spec(name).configs)])[
        name
    ].result()
    first_describe_misses = Stand(real_admin, missing_once=name)
    monkeypatch.setattr(KafkaCluster, "get_admin_client", lambda self: first_describe_misses)

    assert ensure_topic.fn(cluster, spec=events_spec(name), update=False).status == "unchanged"


def test_delete_topic_ignores_a_missing_topic(cluster: KafkaCluster) -> None:
    name = unique("events")
    ensure_topic.fn(cluster, spec=events_spec(name), update=False)

    assert delete_topic.fn(cluster, name=name) is True
    assert delete_topic.fn(cluster, name=name) is False
    assert describe_topic.fn(cluster, name=name) is None


# --- cases the broker cannot produce ---------------------------------------------------


class Stand:
    """The real AdminClient, with one behaviour changed for a case Tansu cannot produce."""

    def __init__(
        self, admin: AdminClient, *, create_error: int | None = None, missing_once: str = ""
    ) -> None:
        self.admin = admin
        self.create_error = create_error
        self.missing_once = missing_once
        self.create_calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.admin, name)

    def list_topics(self, *, topic: str | None = None, timeout: float = -1) -> Any:
        if topic is not None and topic == self.missing_once:
            self.missing_once = ""
            return self.admin.list_topics(topic=f"{topic}-absent", timeout=timeout)
        return self.admin.list_topics(topic=topic, timeout=timeout)

    def create_topics(self, topics: list[NewTopic], **kwargs: Any) -> dict[str, Future[None]]:
        self.create_calls += 1
        if self.create_error is None:
            return self.admin.create_topics(topics, **kwargs)  # type: ignore[no-any-return]
        futures: dict[str, Future[None]] = {}
        for topic in topics:
            future: Future[None] = Future()
            future.set_exception(KafkaException(KafkaError(self.create_error, "not allowed")))
            futures[topic.topic] = future
        return futures


def test_a_broker_refusal_is_permanent_and_names_the_topic(
    cluster: KafkaCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tansu accepts any topic config, so the refusal a real cluster's create-topic
    policy gives (POLICY_VIOLATION) comes from a stand-in future."""
    name = unique("events")
    stand = Stand(cluster.get_admin_client(), create_error=KafkaError.POLICY_VIOLATION)
    monkeypatch.setattr(KafkaCluster, "get_admin_client", lambda self: stand)

    with pytest.raises(PermanentProviderError) as raised:
        ensure_topic.fn(cluster, spec=events_spec(name), update=False)

    assert raised.value.resource == name
    assert "POLICY_VIOLATION" in str(raised.value) and name in str(raised.value)
    assert stand.create_calls == 1


@pytest.mark.parametrize("acl_task", [create_acl, delete_acl], ids=["create", "delete"])
def test_acl_calls_are_refused_without_an_authorizer_before_any_client_exists(
    acl_task: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tansu aborts the client process on CreateAcls: the refusal must come first."""

    def no_client(self: KafkaCluster) -> AdminClient:
        raise AssertionError("an admin client was built for an ACL call")

    monkeypatch.setattr(KafkaCluster, "get_admin_client", no_client)
    cluster = KafkaCluster(bootstrap_servers="127.0.0.1:1", has_authorizer=False)
    acl = TopicAcl(principal="User:orders", topic="payments.orders.events", operation="READ")

    with pytest.raises(PermanentProviderError, match="has no authorizer"), disable_run_logger():
        acl_task.fn(cluster, acl=acl)


def test_a_failed_attempt_keeps_no_admin_client_alive() -> None:
    """Prefect keeps a failed attempt's exception; its frames must not keep the
    AdminClient of a down broker alive, reconnecting for the life of the worker."""
    down = KafkaCluster(bootstrap_servers=f"127.0.0.1:{free_port()}", request_timeout_seconds=0.3)

    def clients() -> int:
        gc.collect()
        return sum(isinstance(o, AdminClient) for o in gc.get_objects())

    before = clients()
    with pytest.raises(TransientProviderError, match="_TRANSPORT") as raised, disable_run_logger():
        ensure_topic.fn(down, spec=events_spec("tests.down.events"), update=False)

    assert raised.value.__cause__ is not None, "the Kafka error stays attached"
    assert clients() == before
