"""`kafka:topics:create` — the Kafka topics of an existing service, named by policy.

The run: validate (service, requester, names, the cluster's partition and retention
bounds, the domain is the team's, no existing topic is another's) -> `topics_plan` (each
topic one planned resource, none depending on another) applied by the engine
(`flows.engine.apply`: write-ahead, every topic's ensure task at once, ownership and
results in one transaction) -> a markdown artifact.

A conflict (an existing topic configured differently, without `update_existing`) does not
stop the other topics: they are handled, then the run fails listing every difference and
the conflicting topic is marked failed in the registry. A provider failure fails the run
at once; re-running the same request converges.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel, Field

from blocks import KAFKA_BLOCK, KafkaCluster, load_block
from flows.engine.apply import Applied, Ensure, Submitted, Waits, apply_plan
from flows.engine.context import ServiceContext, load_service_context
from flows.engine.plan import Plan, PlannedResource, ResourceRef
from flows.engine.runtime import journaled, owning_team, service_run_name
from flows.engine.session import registry_session
from flows.request_models.kafka_topics_create import TopicRequest, TopicsCreateRequest
from registry import policy, queries
from registry.domains import require_topic_domain
from registry.errors import Conflict, PolicyViolation
from registry.models import Provider
from tasks.kafka import (
    TopicDifference,
    TopicSpec,
    describe_topic,
    ensure_topic,
    topic_differences,
)

__all__ = [
    "ACTION",
    "TopicRequest",
    "TopicResult",
    "TopicsCreateRequest",
    "TopicsCreateResult",
    "kafka_topics_create",
    "refuse_foreign_topics",
    "topic_spec",
    "topics_ensurers",
    "topics_plan",
]

ACTION = "kafka:topics:create"
RESOURCE_KIND = "kafka_topic"
CLEANUP_POLICY = {"state": "compact", "events": "delete"}


class TopicResult(BaseModel):
    """One topic of the run."""

    name: str = Field(description="Topic name.")
    purpose: Literal["state", "events"] = Field(description="state or events.")
    partitions: int = Field(description="Declared partitions.")
    replication_factor: int = Field(description="Declared replication factor.")
    configs: dict[str, str] = Field(description="Declared topic configs.")
    status: Literal["created", "unchanged", "updated", "conflict", "planned"] = Field(
        description="What happened; `planned` in a dry run."
    )
    differences: list[TopicDifference] = Field(
        default_factory=list, description="How an existing topic differed from the request."
    )

    def explained(self) -> str:
        """The differences in words, `; `-separated; empty when there are none."""
        return "; ".join(difference.describe() for difference in self.differences)


class TopicsCreateResult(BaseModel):
    """What the run created or found."""

    service: str = Field(description="Service the topics belong to.")
    team: str = Field(description="Owning team.")
    owner: str = Field(description="Accountable owner.")
    topics: list[TopicResult] = Field(description="One entry per requested topic.")
    dry_run: bool = Field(description="True when nothing was touched.")


def _specs(
    request: TopicsCreateRequest, context: ServiceContext, cluster: KafkaCluster
) -> list[tuple[TopicRequest, TopicSpec]]:
    """Every topic's name and settings, checked against the cluster's bounds; raises
    PolicyViolation listing every problem before anything is touched."""
    defaults = cluster.topic_defaults
    domain = request.domain or context.team
    problems: list[str] = []
    specs: list[tuple[TopicRequest, TopicSpec]] = []
    seen: set[str] = set()
    for topic in request.topics:
        try:
            name = policy.topic_name(domain=domain, service=request.service, event=topic.event)
        except PolicyViolation as exc:
            problems.append(str(exc))
            continue
        if name in seen:
            problems.append(f"topic {name} is asked for twice")
        seen.add(name)
        partitions = topic.partitions if topic.partitions is not None else defaults.partitions
        if partitions > defaults.max_partitions:
            problems.append(
                f"partitions {partitions} for {name} is over the cluster's limit of "
                f"{defaults.max_partitions}"
            )
        configs = {"cleanup.policy": CLEANUP_POLICY[topic.purpose]}
        if topic.purpose == "events":
            retention = topic.retention_ms or defaults.retention_ms
            # -1 is Kafka's "keep forever"; a cluster that allows it says so in its block.
            if defaults.max_retention_ms != -1 and (
                retention == -1 or retention > defaults.max_retention_ms
            ):
                problems.append(
                    f"retention_ms {retention} for {name} is over the cluster's limit of "
                    f"{defaults.max_retention_ms} ({defaults.max_retention_ms / 86_400_000:g} days)"
                )
            configs["retention.ms"] = str(retention)
        specs.append(
            (
                topic,
                TopicSpec(
                    name=name,
                    partitions=partitions,
                    replication_factor=defaults.replication_factor,
                    configs=configs,
                ),
            )
        )
    if problems:
        raise PolicyViolation("; ".join(problems))
    return specs


def _declared(topic: TopicRequest, spec: TopicSpec) -> dict[str, Any]:
    return {
        "purpose": topic.purpose,
        "partitions": spec.partitions,
        "replication_factor": spec.replication_factor,
        "configs": dict(spec.configs),
    }


def topics_plan(
    request: TopicsCreateRequest, context: ServiceContext, cluster: KafkaCluster
) -> Plan:
    """Each requested topic one planned resource with its declared settings; none needs
    another, so the engine makes them all at once. Pure apart from the cluster block's
    bounds: PolicyViolation listing every problem, no provider call."""
    resources = [
        PlannedResource(
            ref=ResourceRef(
                service=request.service, provider=Provider.KAFKA, kind=RESOURCE_KIND, name=spec.name
            ),
            spec=_declared(topic, spec),
        )
        for topic, spec in _specs(request, context, cluster)
    ]
    return Plan(action=ACTION, service=request.service, resources=resources)


def topic_spec(item: PlannedResource) -> TopicSpec:
    return TopicSpec(
        name=item.ref.name,
        partitions=item.spec["partitions"],
        replication_factor=item.spec["replication_factor"],
        configs=item.spec["configs"],
    )


def topics_ensurers(
    cluster: KafkaCluster, *, update: bool, seen: dict[str, TopicResult]
) -> dict[str, Ensure]:
    """How the engine makes sure of a topic: `ensure_topic` on `cluster`. Each answer is
    kept in `seen` by name; a conflict raises Conflict, so the engine records that topic
    failed with the differences (the others, already running, still finish)."""

    def topic(item: PlannedResource, _: Mapping[str, Applied], wait: Waits) -> Submitted:
        def read(outcome: Any) -> Applied:
            result = TopicResult(
                name=item.ref.name,
                purpose=item.spec["purpose"],
                partitions=item.spec["partitions"],
                replication_factor=item.spec["replication_factor"],
                configs=dict(item.spec["configs"]),
                status=outcome.status,
                differences=outcome.differences,
            )
            seen[item.ref.name] = result
            if outcome.status == "conflict":
                raise Conflict(f"conflict: {item.ref.name} left untouched: {result.explained()}")
            changes = [f"{item.ref.name}: {d.describe()}" for d in outcome.differences]
            return Applied(
                external_id=item.ref.name,
                created=outcome.status == "created",
                changes=changes if outcome.status == "updated" else [],
            )

        future = ensure_topic.submit(cluster, spec=topic_spec(item), update=update)
        return Submitted(future, read)

    return {RESOURCE_KIND: topic}


@flow(
    name="kafka-topics-create",
    flow_run_name=service_run_name("create-topics"),
    description="kafka:topics:create: a service's state and event topics, named by policy.",
    validate_parameters=True,
    log_prints=False,
)
def kafka_topics_create(request: TopicsCreateRequest) -> TopicsCreateResult:
    """Create (or converge) the topics of `request.service`."""
    cluster = load_block(KafkaCluster, KAFKA_BLOCK)
    team = owning_team(request.service)
    with journaled(action=ACTION, request=request, team=team, service=request.service) as run:
        context = load_service_context(service=request.service, requester=request.requester)
        with registry_session() as session:
            require_topic_domain(session, team=context.team, domain=request.domain or context.team)
        plan = topics_plan(request, context, cluster)
        refuse_foreign_topics(request.service, cluster, [topic_spec(i) for i in plan.resources])
        if request.dry_run:
            return _dry_run(request, context, cluster, plan)

        seen: dict[str, TopicResult] = {}
        try:
            apply_plan(
                plan,
                context=context,
                ensure=topics_ensurers(cluster, update=request.update_existing, seen=seen),
                flow_run_id=run.flow_run_id,
            )
        except Conflict as exc:
            if len(seen) < len(plan.resources):
                raise  # a topic failed otherwise: that error is the run's
            conflicts = [topic for topic in seen.values() if topic.status == "conflict"]
            result = _result(request, context, plan, seen)
            _report(result)
            raise Conflict(_conflict_message(conflicts, total=len(seen))) from exc
        result = _result(request, context, plan, seen)
        _report(result)
        get_run_logger().info(
            "Topics of %s: %s",
            request.service,
            ", ".join(f"{topic.name} {topic.status}" for topic in result.topics),
        )
        return result


def refuse_foreign_topics(service: str, cluster: KafkaCluster, specs: list[TopicSpec]) -> None:
    """Conflict, before anything is written, when a requested topic exists and is not
    this service's (a service not yet in the registry, as service:create plans it, has
    none). Kafka topics carry no tags: the registry's record is the marker."""
    foreign: list[str] = []
    with registry_session() as session:
        owner = queries.get_service(session, name=service)
        for spec in specs:
            if describe_topic(cluster, name=spec.name) is None:
                continue
            known = queries.get_resource(
                session, provider=Provider.KAFKA, kind=RESOURCE_KIND, name=spec.name
            )
            if known is None or known.service is None:
                foreign.append(f"{spec.name} (the registry has no record of it)")
            elif owner is None or known.service.id != owner.id:
                foreign.append(f"{spec.name} (service {known.service.name!r}'s in the registry)")
    if foreign:
        raise Conflict(
            f"Kafka topics exist that are not service {service!r}'s: {'; '.join(foreign)}. "
            "Paved never adopts a topic it did not make for this service and changed nothing: "
            "pick other event names"
        )


def _result(
    request: TopicsCreateRequest,
    context: ServiceContext,
    plan: Plan,
    seen: dict[str, TopicResult],
) -> TopicsCreateResult:
    """The run's result: every topic's outcome, in request order."""
    return TopicsCreateResult(
        service=request.service,
        team=context.team,
        owner=context.owner,
        topics=[seen[item.ref.name] for item in plan.resources],
        dry_run=False,
    )


def _conflict_message(conflicts: list[TopicResult], *, total: int) -> str:
    details = " | ".join(f"{topic.name}: {topic.explained()}" for topic in conflicts)
    fixable_only = all(d.fixable for topic in conflicts for d in topic.differences)
    advice = (
        "re-run with update_existing=true to set the requested configs"
        if fixable_only
        else "request the partition count and replication factor the topic has, or pick "
        "another event name"
    )
    return (
        f"{len(conflicts)} of {total} topics exist with another configuration and were left "
        f"untouched: {details}. To converge, {advice}"
    )


def _dry_run(
    request: TopicsCreateRequest,
    context: ServiceContext,
    cluster: KafkaCluster,
    plan: Plan,
) -> TopicsCreateResult:
    """Show exactly what a real run would do; reading the cluster is the only call."""
    results = []
    for item in plan.resources:
        spec = topic_spec(item)
        state = describe_topic(cluster, name=spec.name)
        differences = [] if state is None else topic_differences(state, spec)
        if state is None:
            verdict = "would be created"
        elif not differences:
            verdict = "exists as requested: unchanged"
        elif request.update_existing and all(d.fixable for d in differences):
            verdict = "exists: its configs would be updated"
        else:
            verdict = "exists with another configuration: a conflict, left untouched"
        results.append(
            (
                TopicResult(
                    name=spec.name,
                    purpose=item.spec["purpose"],
                    partitions=spec.partitions,
                    replication_factor=spec.replication_factor,
                    configs=dict(spec.configs),
                    status="planned",
                    differences=differences,
                ),
                verdict,
            )
        )
    lines = [
        f"# Dry run: {ACTION} for service {request.service}",
        "",
        f"Nothing was touched. Cluster `{cluster.bootstrap_servers}`.",
        "",
        "| topic | purpose | partitions | replication | configs | plan |",
        "|---|---|---|---|---|---|",
    ]
    for result, verdict in results:
        configs = ", ".join(f"`{k}={v}`" for k, v in result.configs.items())
        details = f" ({result.explained()})" if result.differences else ""
        lines.append(
            f"| `{result.name}` | {result.purpose} | {result.partitions} | "
            f"{result.replication_factor} | {configs} | {verdict}{details} |"
        )
    lines += [
        "",
        f"The registry would name `{context.owner}` (team `{context.team}`) accountable, "
        f"and record that service `{request.service}` depends on each topic.",
        "",
        "Registry tags: " + ", ".join(f"`{k}={v}`" for k, v in context.tags.items()),
    ]
    markdown = "\n".join(lines)
    get_run_logger().info(markdown)
    create_markdown_artifact(
        markdown=markdown, key=f"plan-topics-{request.service}", description="Dry run"
    )
    return TopicsCreateResult(
        service=request.service,
        team=context.team,
        owner=context.owner,
        topics=[result for result, _ in results],
        dry_run=True,
    )


def _report(result: TopicsCreateResult) -> None:
    rows = "\n".join(
        f"| `{topic.name}` | {topic.purpose} | {topic.partitions} | "
        f"{', '.join(f'`{k}={v}`' for k, v in topic.configs.items())} | {topic.status}"
        f"{' (' + topic.explained() + ')' if topic.differences else ''} |"
        for topic in result.topics
    )
    markdown = (
        f"# Kafka topics of {result.service}\n\n"
        f"| service | team | accountable owner |\n|---|---|---|\n"
        f"| {result.service} | {result.team} | {result.owner} |\n\n"
        f"| topic | purpose | partitions | configs | outcome |\n|---|---|---|---|---|\n"
        f"{rows}\n\n"
        f"Ask the registry: `paved who-owns {result.topics[0].name}`\n"
    )
    create_markdown_artifact(
        markdown=markdown,
        key=f"topics-{result.service}",
        description=f"{ACTION} {result.service}",
    )
