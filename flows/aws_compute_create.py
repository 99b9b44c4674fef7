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

from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel, Field, field_validator

from blocks import AWS_BLOCK, AwsAccount, load_block
from flows.action_request import PavedRequest

# Both AWS actions act on an existing service in an allowed region: one way to check it.
from flows.aws_storage_create import allowed_region
from flows.registry_steps import (
    PlannedResource,
    ResourceRef,
    ServiceContext,
    failure_recorded,
    load_service_context,
    record_active,
    write_ahead,
)
from flows.runtime import journaled, owning_team, registry_session, service_run_name
from registry import policy, queries
from registry.errors import PolicyViolation
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
    "log_group_name",
]

ACTION = "aws:compute:create"
REPOSITORY_KIND = "ecr_repository"
LOG_GROUP_KIND = "cloudwatch_log_group"
TASK_DEFINITION_KIND = "ecs_task_definition"
SERVICE_KIND = "ecs_service"
APP_PURPOSE = "app"
IMAGE_TAG = "latest"

Size = Literal["small", "medium", "large"]
# Fargate (CPU units, memory MiB) of each size a request may ask for.
FARGATE_SIZES: dict[str, tuple[int, int]] = {
    "small": (256, 512),
    "medium": (512, 1024),
    "large": (1024, 2048),
}
# The retention periods CloudWatch Logs accepts, in days.
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
    2922, 3288, 3653,
)  # fmt: skip


class ComputeCreateRequest(PavedRequest):
    """Run an existing service as a Fargate service in the shared ECS cluster."""

    service: str = Field(
        description="Name of the existing service to run, e.g. `orders`.",
        examples=["orders"],
        json_schema_extra=policy.name_schema(max_length=policy.SERVICE_NAME_MAX),
    )
    size: Size = Field(
        default="small",
        description="Task size: small 0.25 vCPU/512 MiB, medium 0.5/1024, large 1/2048.",
    )
    desired_count: int = Field(
        default=1, ge=0, le=10, description="How many tasks to keep running (0..10)."
    )
    container_port: int = Field(
        default=8080, ge=1, le=65535, description="Port the container listens on (1..65535)."
    )
    log_retention_days: int = Field(
        default=30,
        description="Days CloudWatch keeps the logs: one of "
        + ", ".join(map(str, LOG_RETENTION_DAYS))
        + ".",
        json_schema_extra={"enum": list(LOG_RETENTION_DAYS)},
    )
    region: str | None = Field(
        default=None,
        description="AWS region, one the AWS account block allows; empty means its default.",
    )

    @field_validator("service")
    @classmethod
    def _service_follows_policy(cls, value: str) -> str:
        return policy.validate_name(value, what="service name")

    @field_validator("log_retention_days")
    @classmethod
    def _retention_cloudwatch_accepts(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            allowed = ", ".join(map(str, LOG_RETENTION_DAYS))
            raise PolicyViolation(
                f"log retention of {value} days is not one CloudWatch accepts: {allowed}"
            )
        return value


class ComputeResource(BaseModel):
    """One resource the run made sure of."""

    kind: str = Field(description="Registry kind, e.g. ecs_service.")
    name: str = Field(description="Policy name.")
    external_id: str = Field(description="ARN (of the revision for a task definition).")
    url: str | None = Field(default=None, description="repositoryUri for the repository.")
    outcome: str = Field(description="created, updated or unchanged (planned in a dry run).")


class ComputeCreateResult(BaseModel):
    """What the run created or found."""

    service: str = Field(description="Service that runs.")
    team: str = Field(description="Owning team.")
    owner: str = Field(description="Accountable owner.")
    region: str = Field(description="AWS region.")
    cluster: str = Field(description="Shared ECS cluster the service runs in.")
    image: str = Field(description="Image the task definition runs.")
    resources: list[ComputeResource] = Field(description="Every resource, in creation order.")
    created: list[str] = Field(description="Names of the resources this run created.")
    unchanged: list[str] = Field(description="Names of the resources that were already right.")
    changes: list[str] = Field(description="What this run changed; empty when all was in place.")
    dry_run: bool = Field(description="True when nothing was touched.")


class _Plan(BaseModel):
    """The four resources of a compute request."""

    repository: PlannedResource
    log_group: PlannedResource
    task_definition: PlannedResource
    service: PlannedResource

    def items(self) -> list[PlannedResource]:
        """In creation order."""
        return [self.repository, self.log_group, self.task_definition, self.service]


def log_group_name(*, team: str, service: str) -> str:
    """`/paved/<team>/<service>`: one log group per service (the policy's name)."""
    return policy.log_group_name(team=team, service=service)


def _plan(
    request: ComputeCreateRequest, context: ServiceContext, account: AwsAccount, region: str
) -> _Plan:
    app = policy.resource_name(team=context.team, service=context.service, purpose=APP_PURPOSE)
    cpu, memory = FARGATE_SIZES[request.size]
    log_group = log_group_name(team=context.team, service=context.service)

    def planned(kind: str, name: str, **spec: Any) -> PlannedResource:
        ref = ResourceRef(service=context.service, provider=Provider.AWS, kind=kind, name=name)
        return PlannedResource(ref=ref, spec={"region": region, **spec})

    return _Plan(
        repository=planned(
            REPOSITORY_KIND, app, image_tag_mutability="IMMUTABLE", scan_on_push=True
        ),
        log_group=planned(LOG_GROUP_KIND, log_group, retention_days=request.log_retention_days),
        task_definition=planned(
            TASK_DEFINITION_KIND,
            app,
            launch_type="FARGATE",
            size=request.size,
            cpu=cpu,
            memory=memory,
            container_port=request.container_port,
            image_tag=IMAGE_TAG,
            log_group=log_group,
        ),
        service=planned(
            SERVICE_KIND,
            app,
            cluster=account.ecs_cluster,
            desired_count=request.desired_count,
            assign_public_ip="DISABLED",
        ),
    )


@flow(
    name="aws-compute-create",
    flow_run_name=service_run_name("create-compute"),
    description="aws:compute:create: a service's image repository, logs and Fargate service.",
    validate_parameters=True,
    log_prints=False,
)
def aws_compute_create(request: ComputeCreateRequest) -> ComputeCreateResult:
    """Create (or converge) the compute of the existing service `request.service`."""
    with journaled(
        action=ACTION,
        request=request,
        team=owning_team(request.service),
        service=request.service,
    ):
        context = load_service_context(service=request.service, requester=request.requester)
        account = load_block(AwsAccount, AWS_BLOCK)
        region = allowed_region(request.region, account)
        plan = _plan(request, context, account, region)
        if request.dry_run:
            return _dry_run(context, region=region, cluster=account.ecs_cluster, plan=plan)
        for item in plan.items():
            write_ahead(
                item.ref,
                team=context.team,
                owner=context.owner,
                description="",
                spec=item.spec,
                tags=context.tags,
            )
        image, resources = _provision(request, context, account.in_region(region), plan)
        result = ComputeCreateResult(
            service=context.service,
            team=context.team,
            owner=context.owner,
            region=region,
            cluster=account.ecs_cluster,
            image=image,
            resources=[resource for resource, _ in resources],
            created=[r.name for r, _ in resources if r.outcome == "created"],
            unchanged=[r.name for r, _ in resources if r.outcome == "unchanged"],
            changes=[change for _, changes in resources for change in changes],
            dry_run=False,
        )
        _report(result)
        get_run_logger().info(
            "Compute of %s in %s: %s",
            context.service,
            region,
            "; ".join(result.changes) or "all was in place",
        )
        return result


def _provision(
    request: ComputeCreateRequest, context: ServiceContext, account: AwsAccount, plan: _Plan
) -> tuple[str, list[tuple[ComputeResource, list[str]]]]:
    """The AWS side effects, each recorded in the registry as soon as it exists; returns
    the image and each resource with what changed."""
    done: list[tuple[ComputeResource, list[str]]] = []

    def activate(
        item: PlannedResource,
        *,
        external_id: str,
        url: str | None,
        created: bool,
        changes: list[str],
        **spec: Any,
    ) -> None:
        item.spec.update(spec)
        record_active(
            item.ref,
            team=context.team,
            owner=context.owner,
            external_id=external_id,
            url=url,
            spec=item.spec,
            tags=context.tags,
        )
        with registry_session() as session:
            queries.add_dependency(
                session,
                service=context.service,
                depends_on_resource=(item.ref.provider, item.ref.kind, item.ref.name),
                kind="runs-on",
            )
        outcome = "created" if created else ("updated" if changes else "unchanged")
        done.append(
            (
                ComputeResource(
                    kind=item.ref.kind,
                    name=item.ref.name,
                    external_id=external_id,
                    url=url,
                    outcome=outcome,
                ),
                changes,
            )
        )

    with failure_recorded(plan.repository.ref):
        repo = ensure_ecr_repository(account, name=plan.repository.ref.name, tags=context.tags)
    activate(
        plan.repository,
        external_id=repo.arn,
        url=repo.uri,
        created=repo.created,
        changes=repo.changes,
    )

    with failure_recorded(plan.log_group.ref):
        logs = ensure_log_group(
            account,
            name=plan.log_group.ref.name,
            retention_days=request.log_retention_days,
            tags=context.tags,
        )
    activate(
        plan.log_group, external_id=logs.arn, url=None, created=logs.created, changes=logs.changes
    )

    image = f"{repo.uri}:{IMAGE_TAG}"
    cpu, memory = FARGATE_SIZES[request.size]
    with failure_recorded(plan.task_definition.ref):
        definition = ensure_task_definition(
            account,
            family=plan.task_definition.ref.name,
            image=image,
            cpu=cpu,
            memory=memory,
            container_port=request.container_port,
            log_group=logs.name,
            region=account.region,
            tags=context.tags,
        )
    activate(
        plan.task_definition,
        external_id=definition.arn,
        url=None,
        created=definition.created,
        changes=definition.changes,
        image=image,
        revision=definition.revision,
    )

    with failure_recorded(plan.service.ref):
        cluster = ensure_cluster(account)
        subnets = default_subnets(account)
        security_groups = default_security_groups(account, subnets=subnets)
        service = ensure_service(
            account,
            cluster=cluster.name,
            name=plan.service.ref.name,
            task_definition_arn=definition.arn,
            desired_count=request.desired_count,
            subnets=subnets,
            security_groups=security_groups,
            tags=context.tags,
        )
    activate(
        plan.service,
        external_id=service.arn,
        url=None,
        created=service.created,
        changes=([f"created ECS cluster {cluster.name}"] if cluster.created else [])
        + service.changes,
        task_definition=definition.arn,
        subnets=subnets,
        security_groups=security_groups,
    )
    return image, done


def _dry_run(
    context: ServiceContext, *, region: str, cluster: str, plan: _Plan
) -> ComputeCreateResult:
    lines = [
        f"# Dry run: {ACTION} for service {context.service}",
        "",
        f"Nothing was touched. A real run would make sure that, in `{region}`:",
        "",
    ]
    for item in plan.items():
        settings = ", ".join(f"{key}={value}" for key, value in item.spec.items())
        lines.append(f"- {item.ref.kind} `{item.ref.name}` exists with {settings}")
    lines += [
        f"- the service runs in the shared cluster `{cluster}`, in the account's subnets "
        "(else the default VPC's) with the account's security groups (else the VPC default)",
        f"- service `{context.service}` depends on each, owned by `{context.owner}` "
        f"(team `{context.team}`)",
        "",
        "Tags on every resource: " + ", ".join(f"`{k}={v}`" for k, v in context.tags.items()),
    ]
    markdown = "\n".join(lines)
    get_run_logger().info(markdown)
    create_markdown_artifact(
        markdown=markdown, key=f"plan-compute-{context.service}", description="Dry run"
    )
    return ComputeCreateResult(
        service=context.service,
        team=context.team,
        owner=context.owner,
        region=region,
        cluster=cluster,
        image="",
        resources=[
            ComputeResource(
                kind=item.ref.kind, name=item.ref.name, external_id="", outcome="planned"
            )
            for item in plan.items()
        ],
        created=[],
        unchanged=[],
        changes=[],
        dry_run=True,
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
