"""`aws:compute:create` — an existing service's container image repository, log group,
Fargate task definition and ECS service in the shared cluster, owned and tagged.

The run: validate (the service exists, the requester is in its team, the region is
allowed) -> write ahead (every resource `provisioning`) -> AWS (ECR repository, log group,
shared cluster, task definition revision, service; each get-or-create) -> each resource
`active` with its provider id and a dependency of the service on it -> a markdown
artifact. A re-run registers no new task definition revision and changes nothing; a run
that failed half-way resumes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.futures import PrefectFuture
from pydantic import Field

from blocks import AwsAccount
from flows.actions.aws_results import AwsActionResult, AwsResourceRow, aws_result_fields
from flows.engine.action import apply_or_dry_run, aws_service_run, made
from flows.engine.apply import Applied, Ensure, Submitted, Waits
from flows.engine.context import ServiceContext
from flows.engine.plan import Plan, PlannedResource, ResourceRef
from flows.engine.runtime import service_run_name
from flows.request_models.aws_compute_create import LOG_RETENTION_DAYS, ComputeCreateRequest, Size
from registry import policy
from registry.models import Provider
from tasks.aws.compute import (
    default_security_groups,
    default_subnets,
    ensure_cluster,
    ensure_ecr_repository,
    ensure_log_group,
    ensure_service,
    ensure_task_definition,
)

__all__ = [
    "ACTION",
    "FARGATE_SIZES",
    "LOG_RETENTION_DAYS",
    "ComputeCreateRequest",
    "ComputeCreateResult",
    "ComputeResource",
    "Size",
    "aws_compute_create",
    "compute_plan",
    "log_group_name",
]

ACTION = "aws:compute:create"
REPOSITORY_KIND = "ecr_repository"
LOG_GROUP_KIND = "cloudwatch_log_group"
TASK_DEFINITION_KIND = "ecs_task_definition"
SERVICE_KIND = "ecs_service"
APP_PURPOSE = "app"
IMAGE_TAG = "latest"

# Fargate (CPU units, memory MiB) of each size a request may ask for.
FARGATE_SIZES: dict[str, tuple[int, int]] = {
    "small": (256, 512),
    "medium": (512, 1024),
    "large": (1024, 2048),
}


class ComputeResource(AwsResourceRow):
    """One resource the run made sure of, by its ARN."""

    external_id: str = Field(description="ARN (of the revision for a task definition).")


class ComputeCreateResult(AwsActionResult):
    """What the run created or found."""

    cluster: str = Field(description="Shared ECS cluster the service runs in.")
    image: str = Field(description="Image the task definition runs.")
    resources: list[ComputeResource] = Field(description="Every resource, in creation order.")


def log_group_name(*, team: str, service: str) -> str:
    """`/paved/<team>/<service>`: one log group per service (the policy's name)."""
    return policy.log_group_name(team=team, service=service)


def compute_plan(
    request: ComputeCreateRequest, context: ServiceContext, *, cluster: str, region: str
) -> Plan:
    """The four resources of a compute request: the repository and the log group, then
    the task definition running the repository's image and logging to the group, then
    the service running that revision. Pure: no provider call."""
    app = policy.resource_name(team=context.team, service=context.service, purpose=APP_PURPOSE)
    cpu, memory = FARGATE_SIZES[request.size]
    log_group = log_group_name(team=context.team, service=context.service)

    def planned(kind: str, name: str, depends_on: list[str], **spec: Any) -> PlannedResource:
        ref = ResourceRef(service=context.service, provider=Provider.AWS, kind=kind, name=name)
        return PlannedResource(
            ref=ref, spec={"region": region, **spec}, depends_on=depends_on, relation="runs-on"
        )

    repository = planned(
        REPOSITORY_KIND, app, [], image_tag_mutability="IMMUTABLE", scan_on_push=True
    )
    logs = planned(LOG_GROUP_KIND, log_group, [], retention_days=request.log_retention_days)
    definition = planned(
        TASK_DEFINITION_KIND,
        app,
        [repository.key, logs.key],
        launch_type="FARGATE",
        size=request.size,
        cpu=cpu,
        memory=memory,
        container_port=request.container_port,
        image_tag=IMAGE_TAG,
        log_group=log_group,
    )
    service = planned(
        SERVICE_KIND,
        app,
        [definition.key],
        cluster=cluster,
        desired_count=request.desired_count,
        assign_public_ip="DISABLED",
    )
    return Plan(
        action=ACTION,
        service=context.service,
        resources=[repository, logs, definition, service],
        notes=[
            f"the service runs in the shared cluster `{cluster}`, in the account's subnets "
            "(else the default VPC's) with the account's security groups (else the VPC "
            "default)"
        ],
    )


def compute_ensurers(account: AwsAccount, tags: dict[str, str]) -> dict[str, Ensure]:
    """How the engine makes sure of each compute kind: its ensure task in `account`."""
    # The shared cluster and the network the service runs in are not the service's
    # resources, and nothing but the service needs them: they are looked up beside the
    # first wave (after the write-ahead), and read when the service is made, so that a
    # failure among them is the service's.
    lookups: dict[str, PrefectFuture[Any]] = {}

    def look_up_cluster_and_network() -> None:
        if not lookups:
            lookups["cluster"] = ensure_cluster.submit(account)
            lookups["subnets"] = default_subnets.submit(account)
            # Prefect passes the subnets future's result to the task once it is done.
            subnets: Any = lookups["subnets"]
            lookups["security_groups"] = default_security_groups.submit(account, subnets=subnets)

    def repository(item: PlannedResource, _: Mapping[str, Applied], wait: Waits) -> Submitted:
        look_up_cluster_and_network()
        future = ensure_ecr_repository.submit(account, name=item.ref.name, tags=tags)
        return Submitted(future, lambda r: Applied(external_id=r.arn, url=r.uri, **made(r)))

    def log_group(item: PlannedResource, _: Mapping[str, Applied], wait: Waits) -> Submitted:
        look_up_cluster_and_network()
        future = ensure_log_group.submit(
            account, name=item.ref.name, retention_days=item.spec["retention_days"], tags=tags
        )
        return Submitted(future, lambda r: Applied(external_id=r.arn, **made(r)))

    def task_definition(
        item: PlannedResource, upstream: Mapping[str, Applied], wait: Waits
    ) -> Submitted:
        repository_uri = next(a.url for a in upstream.values() if a.url)
        image = f"{repository_uri}:{item.spec['image_tag']}"
        future = ensure_task_definition.submit(
            account,
            family=item.ref.name,
            image=image,
            cpu=item.spec["cpu"],
            memory=item.spec["memory"],
            container_port=item.spec["container_port"],
            log_group=item.spec["log_group"],
            region=account.region,
            tags=tags,
            wait_for=wait,
            return_state=False,
        )
        return Submitted(
            future,
            lambda r: Applied(
                external_id=r.arn, spec={"image": image, "revision": r.revision}, **made(r)
            ),
        )

    def service(item: PlannedResource, upstream: Mapping[str, Applied], wait: Waits) -> Submitted:
        (definition,) = upstream.values()
        look_up_cluster_and_network()
        cluster = lookups["cluster"].result()
        subnets = lookups["subnets"].result()
        security_groups = lookups["security_groups"].result()
        future = ensure_service.submit(
            account,
            cluster=cluster.name,
            name=item.ref.name,
            task_definition_arn=definition.external_id,
            desired_count=item.spec["desired_count"],
            subnets=subnets,
            security_groups=security_groups,
            tags=tags,
            wait_for=wait,
            return_state=False,
        )
        made_cluster = [f"created ECS cluster {cluster.name}"] if cluster.created else []
        learned = {
            "task_definition": definition.external_id,
            "subnets": subnets,
            "security_groups": security_groups,
        }
        return Submitted(
            future,
            lambda r: Applied(
                external_id=r.arn, created=r.created, changes=made_cluster + r.changes, spec=learned
            ),
        )

    return {
        REPOSITORY_KIND: repository,
        LOG_GROUP_KIND: log_group,
        TASK_DEFINITION_KIND: task_definition,
        SERVICE_KIND: service,
    }


@flow(
    name="aws-compute-create",
    flow_run_name=service_run_name("create-compute"),
    description="aws:compute:create: a service's image repository, logs and Fargate service.",
    validate_parameters=True,
    log_prints=False,
)
def aws_compute_create(request: ComputeCreateRequest) -> ComputeCreateResult:
    """Create (or converge) the compute of the existing service `request.service`."""
    with aws_service_run(ACTION, request, service=request.service, region=request.region) as run:
        context, account, region = run.context, run.account, run.region
        plan = compute_plan(request, context, cluster=account.ecs_cluster, region=region)
        outcomes = apply_or_dry_run(
            plan,
            context,
            region=region,
            ensure=compute_ensurers(account.in_region(region), context.tags),
            flow_run_id=run.flow_run_id,
            dry=request.dry_run,
            key=f"plan-compute-{context.service}",
        )
        image = next(
            (
                str(done.spec["image"])
                for item, done in outcomes
                if done and item.ref.kind == TASK_DEFINITION_KIND
            ),
            "",  # a dry run: nothing was registered
        )
        result = _result(context, region, account.ecs_cluster, image=image, outcomes=outcomes)
        if request.dry_run:
            return result
        _report(result)
        get_run_logger().info(
            "Compute of %s in %s: %s",
            context.service,
            region,
            "; ".join(result.changes) or "all was in place",
        )
        return result


def _result(
    context: ServiceContext,
    region: str,
    cluster: str,
    *,
    image: str,
    outcomes: Sequence[tuple[PlannedResource, Applied | None]],
) -> ComputeCreateResult:
    """The result of a run (`None` outcomes: a dry run, every resource `planned`)."""
    return ComputeCreateResult(
        cluster=cluster,
        image=image,
        **aws_result_fields(context, region, outcomes, row=ComputeResource, id_field="external_id"),
    )


def _report(result: ComputeCreateResult) -> None:
    rows = "\n".join(
        f"| {r.kind} | `{r.name}` | {r.outcome} | `{r.external_id}` |" for r in result.resources
    )
    changes = "\n".join(f"- {change}" for change in result.changes) or "- nothing: all was in place"
    markdown = (
        f"# Compute of service {result.service} ({result.region})\n\n"
        f"Push the image to `{result.image}`; it runs in cluster `{result.cluster}`.\n\n"
        f"| kind | name | outcome | id |\n|---|---|---|---|\n{rows}\n\n"
        f"Accountable owner: {result.owner} (team {result.team})\n\n"
        f"## What this run changed\n\n{changes}\n"
    )
    create_markdown_artifact(
        markdown=markdown,
        key=f"compute-{result.service}",
        description=f"{ACTION} {result.service}",
    )
