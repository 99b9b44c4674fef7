"""Kafka tasks: topics (and, on clusters with an authorizer, ACLs) through confluent-kafka.

Each task builds an AdminClient from the KafkaCluster block, waits on its futures with
the block's timeout, and converts failures into tasks.errors by error code: confluent-kafka
does not mark "broker down" errors retriable, so the codes meaning "not reachable right
now" are listed here (`TRANSIENT_CODES`).

Facts about the local broker (Tansu 0.6) that shape this module: it stores topic configs
without validating them, supports `incremental_alter_configs` but neither `alter_configs`
nor `create_partitions`, ignores `validate_only`, and **aborts the client process on
`create_acls`** — so ACL tasks refuse, before building a client, to touch a cluster whose
block does not say it has an authorizer.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)
from prefect import task
from pydantic import BaseModel, ConfigDict, Field

from tasks.errors import PermanentProviderError, ProviderError, TransientProviderError
from tasks.logs import task_logger
from tasks.retries import PROVIDER_TASK_OPTIONS

if TYPE_CHECKING:
    from concurrent.futures import Future

    from confluent_kafka.admin import AdminClient

    from blocks.kafka import KafkaCluster

__all__ = [
    "MANAGED_CONFIGS",
    "TRANSIENT_CODES",
    "TopicAcl",
    "TopicDifference",
    "TopicOutcome",
    "TopicSpec",
    "TopicState",
    "create_acl",
    "delete_acl",
    "delete_topic",
    "describe_topic",
    "ensure_topic",
    "kafka_errors",
    "topic_differences",
]

PROVIDER = "kafka"

# Codes meaning "the cluster cannot answer right now": a broker down or restarting, a
# controller moving, a request lost on the way. Retrying helps; confluent-kafka's own
# `retriable()` is False for most of them.
TRANSIENT_CODES = frozenset(
    {
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
    }
)

# The topic configs Paved declares and compares; anything else on a topic is left alone.
MANAGED_CONFIGS = ("cleanup.policy", "retention.ms")

# Extra seconds to wait on a future beyond the request timeout the broker was given.
_FUTURE_GRACE_SECONDS = 5.0


def _error_of(exc: KafkaException) -> KafkaError | None:
    first = exc.args[0] if exc.args else None
    return first if isinstance(first, KafkaError) else None


@contextmanager
def kafka_errors(operation: str, resource: str) -> Iterator[None]:
    """Turn confluent-kafka failures into Transient or PermanentProviderError naming
    `resource` and the Kafka error code; a future that never completes is transient."""
    try:
        yield
    except BaseException as exc:
        # Prefect keeps a failed attempt's exception, and its traceback's frames keep
        # their AdminClient alive: a client of a down broker would go on reconnecting for
        # the life of the worker. The finished frames' locals are not needed to report.
        traceback.clear_frames(exc.__traceback__)
        converted = _converted(exc, operation, resource)
        if converted is None:
            raise
        raise converted from exc


def _converted(exc: BaseException, operation: str, resource: str) -> ProviderError | None:
    if isinstance(exc, KafkaException):
        error = _error_of(exc)
        if error is None:
            return PermanentProviderError(
                provider=PROVIDER, operation=operation, resource=resource, cause=str(exc)
            )
        transient = error.code() in TRANSIENT_CODES or error.retriable()
        error_class = TransientProviderError if transient else PermanentProviderError
        return error_class(
            provider=PROVIDER,
            operation=operation,
            resource=resource,
            cause=f"{error.name()}: {error.str()}",
        )
    if isinstance(exc, TimeoutError):  # concurrent.futures.TimeoutError on 3.11+
        return TransientProviderError(
            provider=PROVIDER,
            operation=operation,
            resource=resource,
            cause="no answer from the cluster in time",
        )
    return None


class TopicSpec(BaseModel):
    """A topic as Paved declares it."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="Topic name, `<domain>.<service>.<event>`.")
    partitions: int = Field(ge=1, description="Number of partitions.")
    replication_factor: int = Field(ge=1, description="Replicas of each partition.")
    configs: dict[str, str] = Field(
        default_factory=dict, description="Topic configs Paved sets, e.g. cleanup.policy."
    )


class TopicState(BaseModel):
    """A topic as the cluster has it."""

    name: str = Field(description="Topic name.")
    partitions: int = Field(description="Number of partitions.")
    replication_factor: int = Field(description="Replicas of each partition.")
    configs: dict[str, str] = Field(description="The managed configs the cluster reports.")


class TopicDifference(BaseModel):
    """One setting on which the cluster's topic differs from the declared one."""

    setting: str = Field(description="`partitions`, `replication.factor` or a config name.")
    actual: str | None = Field(description="Value on the cluster; None when it is not set.")
    wanted: str = Field(description="Declared value.")
    fixable: bool = Field(
        description="Whether Paved may change it in place (configs yes; partition count "
        "and replication factor no)."
    )

    def describe(self) -> str:
        """`retention.ms is 3600000 on the cluster, 604800000 requested` and why not fixable."""
        actual = "unset" if self.actual is None else self.actual
        text = f"{self.setting} is {actual} on the cluster, {self.wanted} requested"
        if not self.fixable:
            text += " (Paved cannot change this on an existing topic)"
        return text


class TopicOutcome(BaseModel):
    """What `ensure_topic` found or did."""

    name: str = Field(description="Topic name.")
    status: Literal["created", "unchanged", "updated", "conflict"] = Field(
        description="created, unchanged, updated (configs set in place) or conflict "
        "(differs and left untouched)."
    )
    differences: list[TopicDifference] = Field(
        default_factory=list, description="Differences found before any change."
    )


class TopicAcl(BaseModel):
    """An ALLOW ACL on topics for one principal."""

    model_config = ConfigDict(frozen=True)

    principal: str = Field(description="Kafka principal, e.g. `User:orders`.")
    topic: str = Field(description="Topic name, or prefix when `pattern` is PREFIXED.")
    operation: Literal["READ", "WRITE", "DESCRIBE", "DESCRIBE_CONFIGS"] = Field(
        description="Operation allowed."
    )
    pattern: Literal["LITERAL", "PREFIXED"] = Field(
        default="LITERAL", description="Whether `topic` is a name or a prefix."
    )
    host: str = Field(default="*", description="Host the principal may connect from.")


def topic_differences(state: TopicState, spec: TopicSpec) -> list[TopicDifference]:
    """Where the cluster's topic differs from `spec`, on the settings `spec` declares."""
    differences = []
    if state.partitions != spec.partitions:
        differences.append(
            TopicDifference(
                setting="partitions",
                actual=str(state.partitions),
                wanted=str(spec.partitions),
                fixable=False,
            )
        )
    if state.replication_factor != spec.replication_factor:
        differences.append(
            TopicDifference(
                setting="replication.factor",
                actual=str(state.replication_factor),
                wanted=str(spec.replication_factor),
                fixable=False,
            )
        )
    for key, wanted in sorted(spec.configs.items()):
        actual = state.configs.get(key)
        if actual != wanted:
            differences.append(
                TopicDifference(setting=key, actual=actual, wanted=wanted, fixable=True)
            )
    return differences


def _result(future: Future[Any], cluster: KafkaCluster) -> Any:
    return future.result(timeout=cluster.request_timeout_seconds + _FUTURE_GRACE_SECONDS)


def _describe(admin: AdminClient, cluster: KafkaCluster, name: str) -> TopicState | None:
    timeout = cluster.request_timeout_seconds
    # The block sets allow.auto.create.topics=false: asking about a missing topic does
    # not create it.
    metadata = admin.list_topics(topic=name, timeout=timeout).topics.get(name)
    if metadata is None:
        return None
    if metadata.error is not None:
        if metadata.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
            return None
        raise KafkaException(metadata.error)
    partitions = list(metadata.partitions.values())
    resource = ConfigResource(ResourceType.TOPIC, name)
    entries = _result(
        admin.describe_configs([resource], request_timeout=timeout)[resource], cluster
    )
    return TopicState(
        name=name,
        partitions=len(partitions),
        replication_factor=max((len(p.replicas) for p in partitions), default=0),
        configs={
            key: str(entry.value)
            for key, entry in entries.items()
            if key in MANAGED_CONFIGS and entry.value is not None
        },
    )


def _create(admin: AdminClient, cluster: KafkaCluster, spec: TopicSpec) -> bool:
    """Create the topic; False when it exists already (a retry after a create whose
    answer was lost, or a concurrent run): the caller compares it instead of failing."""
    topic = NewTopic(
        spec.name,
        num_partitions=spec.partitions,
        replication_factor=spec.replication_factor,
        config=dict(spec.configs),
    )
    futures = admin.create_topics([topic], request_timeout=cluster.request_timeout_seconds)
    try:
        _result(futures[spec.name], cluster)
    except KafkaException as exc:
        error = _error_of(exc)
        if error is not None and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return False
        raise
    return True


@task(name="kafka: describe topic", **PROVIDER_TASK_OPTIONS)
def describe_topic(cluster: KafkaCluster, *, name: str) -> TopicState | None:
    """The topic `name` (partitions, replication factor, managed configs), or None."""
    with kafka_errors("describe topic", name):
        return _describe(cluster.get_admin_client(), cluster, name)


@task(name="kafka: ensure topic", **PROVIDER_TASK_OPTIONS)
def ensure_topic(cluster: KafkaCluster, *, spec: TopicSpec, update: bool) -> TopicOutcome:
    """Create `spec.name` when missing; otherwise compare it with `spec`.

    Same settings: `unchanged`. Different configs: `conflict`, untouched, unless `update`,
    then they are SET in place (`updated`). A different partition count or replication
    factor is always a `conflict` and nothing is changed: Paved never shrinks a topic and
    does not grow one here (the local broker cannot, and growing breaks key ordering).
    """
    with kafka_errors("ensure topic", spec.name):
        outcome = _ensure(cluster, spec, update=update)
    logger = task_logger()
    explained = "; ".join(difference.describe() for difference in outcome.differences)
    if outcome.status == "created":
        logger.info(
            "Created topic %s (%d partitions, replication %d, %s)",
            spec.name,
            spec.partitions,
            spec.replication_factor,
            spec.configs,
        )
    elif outcome.status == "updated":
        logger.info("Updated topic %s: %s", spec.name, explained)
    elif outcome.status == "conflict":
        logger.warning("Topic %s differs and was left untouched: %s", spec.name, explained)
    return outcome


# The tasks keep their AdminClient in helpers like this one, never in their own frame:
# kafka_errors can then clear the finished frames, and with them the client.
def _ensure(cluster: KafkaCluster, spec: TopicSpec, *, update: bool) -> TopicOutcome:
    admin = cluster.get_admin_client()
    state = _describe(admin, cluster, spec.name)
    if state is None and _create(admin, cluster, spec):
        return TopicOutcome(name=spec.name, status="created")
    if state is None:
        state = _describe(admin, cluster, spec.name)
    if state is None:
        raise TransientProviderError(
            provider=PROVIDER,
            operation="ensure topic",
            resource=spec.name,
            cause="the broker says the topic exists but its metadata does not list it yet",
        )
    differences = topic_differences(state, spec)
    if not differences:
        return TopicOutcome(name=spec.name, status="unchanged")
    if not update or not all(difference.fixable for difference in differences):
        return TopicOutcome(name=spec.name, status="conflict", differences=differences)
    resource = ConfigResource(
        ResourceType.TOPIC,
        spec.name,
        incremental_configs=[
            ConfigEntry(
                difference.setting, difference.wanted, incremental_operation=AlterConfigOpType.SET
            )
            for difference in differences
        ],
    )
    futures = admin.incremental_alter_configs(
        [resource], request_timeout=cluster.request_timeout_seconds
    )
    _result(futures[resource], cluster)
    return TopicOutcome(name=spec.name, status="updated", differences=differences)


@task(name="kafka: delete topic", **PROVIDER_TASK_OPTIONS)
def delete_topic(cluster: KafkaCluster, *, name: str) -> bool:
    """Delete topic `name`; True when it existed, False when it was already gone."""
    with kafka_errors("delete topic", name):
        return _delete(cluster, name)


def _delete(cluster: KafkaCluster, name: str) -> bool:
    admin = cluster.get_admin_client()
    futures = admin.delete_topics([name], operation_timeout=cluster.request_timeout_seconds)
    try:
        _result(futures[name], cluster)
    except KafkaException as exc:
        error = _error_of(exc)
        if error is not None and error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
            return False
        raise
    return True


def _acl_resource(acl: TopicAcl) -> str:
    return f"{acl.principal} {acl.operation} on {acl.topic}"


def _require_authorizer(cluster: KafkaCluster, operation: str, acl: TopicAcl) -> None:
    if not cluster.has_authorizer:
        raise PermanentProviderError(
            provider=PROVIDER,
            operation=operation,
            resource=_acl_resource(acl),
            cause=(
                f"cluster {cluster.bootstrap_servers} has no authorizer (has_authorizer=False "
                "in its block): ACLs cannot be managed there"
            ),
        )


def _binding(acl: TopicAcl) -> AclBinding:
    return AclBinding(
        ResourceType.TOPIC,
        acl.topic,
        ResourcePatternType[acl.pattern],
        acl.principal,
        acl.host,
        AclOperation[acl.operation],
        AclPermissionType.ALLOW,
    )


@task(name="kafka: create ACL", **PROVIDER_TASK_OPTIONS)
def create_acl(cluster: KafkaCluster, *, acl: TopicAcl) -> None:
    """Allow `acl.principal` `acl.operation` on `acl.topic`; Kafka ignores a repeat.

    Refused on a cluster without an authorizer (checked before any client is built:
    Tansu aborts the calling process on CreateAcls)."""
    _require_authorizer(cluster, "create ACL", acl)
    with kafka_errors("create ACL", _acl_resource(acl)):
        _create_acl(cluster, _binding(acl))


def _create_acl(cluster: KafkaCluster, binding: AclBinding) -> None:
    admin = cluster.get_admin_client()
    futures = admin.create_acls([binding], request_timeout=cluster.request_timeout_seconds)
    _result(futures[binding], cluster)


@task(name="kafka: delete ACL", **PROVIDER_TASK_OPTIONS)
def delete_acl(cluster: KafkaCluster, *, acl: TopicAcl) -> int:
    """Remove the ACL; returns how many bindings went (0 when it was already gone).

    Refused on a cluster without an authorizer, before any client is built."""
    _require_authorizer(cluster, "delete ACL", acl)
    binding = _binding(acl)
    acl_filter = AclBindingFilter(
        binding.restype,
        binding.name,
        binding.resource_pattern_type,
        binding.principal,
        binding.host,
        binding.operation,
        binding.permission_type,
    )
    with kafka_errors("delete ACL", _acl_resource(acl)):
        return _delete_acl(cluster, acl_filter)


def _delete_acl(cluster: KafkaCluster, acl_filter: AclBindingFilter) -> int:
    admin = cluster.get_admin_client()
    futures = admin.delete_acls([acl_filter], request_timeout=cluster.request_timeout_seconds)
    return len(_result(futures[acl_filter], cluster))
