"""`aws:storage:create` — an existing service's S3 bucket, SQS work queue with its
dead-letter queue, and DynamoDB table, private, encrypted, owned and tagged.

The run: validate (the service exists, the requester is in its team, the region is
allowed) -> write ahead (every resource `provisioning`) -> AWS (each resource
get-or-create, drifted settings brought back) -> each resource `active` with its ARN and
a dependency of the service on it -> a markdown artifact. Re-running a request that
completed changes nothing; one that failed half-way resumes.
"""

from __future__ import annotations

import re

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel, Field, field_validator, model_validator

from blocks import AWS_BLOCK, AwsAccount, load_block
from flows.action_request import PavedRequest
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
from tasks.aws.storage import (
    DLQ_RETENTION_SECONDS,
    ensure_bucket,
    ensure_queue_with_dlq,
    ensure_table,
)

__all__ = [
    "ACTION",
    "StorageCreateRequest",
    "StorageCreateResult",
    "StorageResource",
    "allowed_region",
    "aws_storage_create",
]

ACTION = "aws:storage:create"
BUCKET_KIND = "s3_bucket"
QUEUE_KIND = "sqs_queue"
TABLE_KIND = "dynamodb_table"
# Purposes in `<team>-<service>-<purpose>` names.
BUCKET_PURPOSE = "data"
QUEUE_PURPOSE = "jobs"
DLQ_PURPOSE = "jobs-dlq"
TABLE_PURPOSE = "state"
ENCRYPTION = "AES256"
# DynamoDB key attribute names Paved accepts: short, plain, the same in every SDK.
ATTRIBUTE_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"
_ATTRIBUTE = re.compile(ATTRIBUTE_PATTERN)


def _attribute_name(value: str, *, what: str) -> str:
    if not _ATTRIBUTE.fullmatch(value):
        raise PolicyViolation(
            f"{what} {value!r} is not allowed: start with a letter, then letters, digits "
            "or underscores, at most 64 characters"
        )
    return value


class StorageCreateRequest(PavedRequest):
    """Create the storage of an existing service: bucket, queue with dead-letter queue, table."""

    service: str = Field(
        description="Name of the existing service the storage belongs to, e.g. `orders`.",
        examples=["orders"],
        json_schema_extra=policy.name_schema(max_length=policy.SERVICE_NAME_MAX),
    )
    bucket: bool = Field(default=True, description="Create the S3 bucket `<team>-<service>-data`.")
    queue: bool = Field(
        default=True,
        description="Create the SQS queue `<team>-<service>-jobs` and its dead-letter queue.",
    )
    table: bool = Field(
        default=True, description="Create the DynamoDB table `<team>-<service>-state`."
    )
    region: str | None = Field(
        default=None,
        description="AWS region, one the AWS account block allows; empty means its default.",
    )
    versioning: bool = Field(default=True, description="Keep every version of bucket objects.")
    visibility_timeout_seconds: int = Field(
        default=30,
        ge=0,
        le=43200,
        description="Seconds a received message stays hidden from other consumers (0..43200).",
    )
    max_receive_count: int = Field(
        default=5,
        ge=1,
        le=20,
        description="Receives before a message moves to the dead-letter queue (1..20).",
    )
    message_retention_days: int = Field(
        default=4, ge=1, le=14, description="Days the queue keeps a message (1..14)."
    )
    partition_key: str = Field(
        default="pk",
        description="Partition key attribute of the table (a string attribute).",
        json_schema_extra={"pattern": ATTRIBUTE_PATTERN},
    )
    sort_key: str | None = Field(
        default=None,
        description="Sort key attribute of the table (a string attribute); empty means none.",
        json_schema_extra={"pattern": ATTRIBUTE_PATTERN},
    )

    @field_validator("service")
    @classmethod
    def _service_follows_policy(cls, value: str) -> str:
        return policy.validate_name(value, what="service name")

    @field_validator("partition_key")
    @classmethod
    def _partition_key_is_plain(cls, value: str) -> str:
        return _attribute_name(value, what="partition key")

    @field_validator("sort_key")
    @classmethod
    def _sort_key_is_plain(cls, value: str | None) -> str | None:
        return None if value is None else _attribute_name(value, what="sort key")

    @model_validator(mode="after")
    def _asks_for_something(self) -> StorageCreateRequest:
        if not (self.bucket or self.queue or self.table):
            raise PolicyViolation("ask for at least one of bucket, queue and table")
        if self.sort_key is not None and self.sort_key == self.partition_key:
            raise PolicyViolation(f"sort key {self.sort_key!r} must differ from the partition key")
        return self


class StorageResource(BaseModel):
    """One resource the run made sure of."""

    kind: str = Field(description="Registry kind, e.g. s3_bucket.")
    name: str = Field(description="Policy name.")
    arn: str = Field(description="ARN (empty in a dry run).")
    url: str | None = Field(default=None, description="Queue URL for queues.")
    outcome: str = Field(description="created, updated or unchanged (planned in a dry run).")


class StorageCreateResult(BaseModel):
    """What the run created or found."""

    service: str = Field(description="Service the storage belongs to.")
    team: str = Field(description="Owning team.")
    owner: str = Field(description="Accountable owner.")
    region: str = Field(description="AWS region.")
    resources: list[StorageResource] = Field(description="Every resource, in creation order.")
    created: list[str] = Field(description="Names of the resources this run created.")
    unchanged: list[str] = Field(description="Names of the resources that were already right.")
    changes: list[str] = Field(description="What this run changed; empty when all was in place.")
    dry_run: bool = Field(description="True when nothing was touched.")


class _Plan(BaseModel):
    """The resources the request asks for; None where it asks for none."""

    bucket: PlannedResource | None = None
    dlq: PlannedResource | None = None
    queue: PlannedResource | None = None
    table: PlannedResource | None = None

    def items(self) -> list[PlannedResource]:
        """The planned resources in creation order (a DLQ before its queue)."""
        return [item for item in (self.bucket, self.dlq, self.queue, self.table) if item]


def allowed_region(region: str | None, account: AwsAccount) -> str:
    """`region` (None: the account's default) if the account allows it, else
    PolicyViolation naming the allowed ones. Checked before any AWS call."""
    region = region or account.region
    if region not in account.allowed_regions:
        allowed = ", ".join(account.allowed_regions)
        raise PolicyViolation(f"region {region!r} is not allowed; choose one of: {allowed}")
    return region


def _plan(request: StorageCreateRequest, context: ServiceContext, region: str) -> _Plan:
    def ref(kind: str, purpose: str) -> ResourceRef:
        name = policy.resource_name(team=context.team, service=context.service, purpose=purpose)
        return ResourceRef(service=context.service, provider=Provider.AWS, kind=kind, name=name)

    plan = _Plan()
    if request.bucket:
        plan.bucket = PlannedResource(
            ref=ref(BUCKET_KIND, BUCKET_PURPOSE),
            spec={
                "region": region,
                "versioning": request.versioning,
                "encryption": ENCRYPTION,
                "public_access": "blocked",
            },
        )
    if request.queue:
        dlq, queue = ref(QUEUE_KIND, DLQ_PURPOSE), ref(QUEUE_KIND, QUEUE_PURPOSE)
        plan.dlq = PlannedResource(
            ref=dlq,
            spec={
                "region": region,
                "message_retention_days": DLQ_RETENTION_SECONDS // 86400,
                "dead_letter_queue_of": queue.name,
            },
        )
        plan.queue = PlannedResource(
            ref=queue,
            spec={
                "region": region,
                "visibility_timeout_seconds": request.visibility_timeout_seconds,
                "message_retention_days": request.message_retention_days,
                "max_receive_count": request.max_receive_count,
                "dead_letter_queue": dlq.name,
            },
        )
    if request.table:
        plan.table = PlannedResource(
            ref=ref(TABLE_KIND, TABLE_PURPOSE),
            spec={
                "region": region,
                "billing_mode": "PAY_PER_REQUEST",
                "partition_key": request.partition_key,
                "sort_key": request.sort_key,
            },
        )
    return plan


@flow(
    name="aws-storage-create",
    flow_run_name=service_run_name("create-storage"),
    description="aws:storage:create: a service's private bucket, queue with DLQ and table.",
    validate_parameters=True,
    log_prints=False,
)
def aws_storage_create(request: StorageCreateRequest) -> StorageCreateResult:
    """Create (or converge) the storage of the existing service `request.service`."""
    with journaled(
        action=ACTION,
        request=request,
        team=owning_team(request.service),
        service=request.service,
    ):
        context = load_service_context(service=request.service, requester=request.requester)
        account = load_block(AwsAccount, AWS_BLOCK)
        region = allowed_region(request.region, account)
        plan = _plan(request, context, region)
        if request.dry_run:
            return _dry_run(context, region=region, plan=plan)
        for item in plan.items():
            write_ahead(
                item.ref,
                team=context.team,
                owner=context.owner,
                description="",
                spec=item.spec,
                tags=context.tags,
            )
        resources = _provision(request, context, account.in_region(region), plan)
        result = StorageCreateResult(
            service=context.service,
            team=context.team,
            owner=context.owner,
            region=region,
            resources=[resource for resource, _ in resources],
            created=[r.name for r, _ in resources if r.outcome == "created"],
            unchanged=[r.name for r, _ in resources if r.outcome == "unchanged"],
            changes=[change for _, changes in resources for change in changes],
            dry_run=False,
        )
        _report(result)
        get_run_logger().info(
            "Storage of %s in %s: created %s; unchanged %s",
            context.service,
            region,
            ", ".join(result.created) or "nothing",
            ", ".join(result.unchanged) or "nothing",
        )
        return result


def _provision(
    request: StorageCreateRequest, context: ServiceContext, account: AwsAccount, plan: _Plan
) -> list[tuple[StorageResource, list[str]]]:
    """The AWS side effects, each recorded in the registry as soon as it exists; a failure
    is recorded on the resources it concerns and fails the run."""
    done: list[tuple[StorageResource, list[str]]] = []

    def activate(
        item: PlannedResource, *, arn: str, url: str | None, created: bool, changes: list[str]
    ) -> None:
        record_active(
            item.ref,
            team=context.team,
            owner=context.owner,
            external_id=arn,
            url=url,
            spec=item.spec,
            tags=context.tags,
        )
        with registry_session() as session:
            queries.add_dependency(
                session,
                service=context.service,
                depends_on_resource=(item.ref.provider, item.ref.kind, item.ref.name),
                kind="stores",
            )
        outcome = "created" if created else ("updated" if changes else "unchanged")
        resource = StorageResource(
            kind=item.ref.kind, name=item.ref.name, arn=arn, url=url, outcome=outcome
        )
        done.append((resource, changes))

    if plan.bucket is not None:
        with failure_recorded(plan.bucket.ref):
            bucket = ensure_bucket(
                account,
                name=plan.bucket.ref.name,
                tags=context.tags,
                versioning=request.versioning,
                encryption=ENCRYPTION,
            )
        activate(
            plan.bucket, arn=bucket.arn, url=None, created=bucket.created, changes=bucket.changes
        )
    if plan.queue is not None and plan.dlq is not None:
        with failure_recorded(plan.dlq.ref, plan.queue.ref):
            pair = ensure_queue_with_dlq(
                account,
                name=plan.queue.ref.name,
                dlq_name=plan.dlq.ref.name,
                tags=context.tags,
                visibility_timeout=request.visibility_timeout_seconds,
                max_receive_count=request.max_receive_count,
                message_retention_seconds=request.message_retention_days * 86400,
            )
        for item, queue in ((plan.dlq, pair.dlq), (plan.queue, pair.queue)):
            activate(
                item, arn=queue.arn, url=queue.url, created=queue.created, changes=queue.changes
            )
    if plan.table is not None:
        with failure_recorded(plan.table.ref):
            table = ensure_table(
                account,
                name=plan.table.ref.name,
                partition_key=request.partition_key,
                sort_key=request.sort_key,
                tags=context.tags,
            )
        activate(plan.table, arn=table.arn, url=None, created=table.created, changes=table.changes)
    return done


def _dry_run(context: ServiceContext, *, region: str, plan: _Plan) -> StorageCreateResult:
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
        f"- service `{context.service}` depends on each, owned by `{context.owner}` "
        f"(team `{context.team}`)",
        "",
        "Tags on every resource: " + ", ".join(f"`{k}={v}`" for k, v in context.tags.items()),
    ]
    markdown = "\n".join(lines)
    get_run_logger().info(markdown)
    create_markdown_artifact(
        markdown=markdown, key=f"plan-storage-{context.service}", description="Dry run"
    )
    return StorageCreateResult(
        service=context.service,
        team=context.team,
        owner=context.owner,
        region=region,
        resources=[
            StorageResource(kind=item.ref.kind, name=item.ref.name, arn="", outcome="planned")
            for item in plan.items()
        ],
        created=[],
        unchanged=[],
        changes=[],
        dry_run=True,
    )


def _report(result: StorageCreateResult) -> None:
    rows = "\n".join(
        f"| {r.kind} | `{r.name}` | {r.outcome} | `{r.arn}` |" for r in result.resources
    )
    changes = "\n".join(f"- {change}" for change in result.changes) or "- nothing: all was in place"
    markdown = (
        f"# Storage of service {result.service} ({result.region})\n\n"
        f"| kind | name | outcome | ARN |\n|---|---|---|---|\n{rows}\n\n"
        f"Accountable owner: {result.owner} (team {result.team})\n\n"
        f"## What this run changed\n\n{changes}\n\n"
        f"Ask the registry: `paved who-owns {result.resources[0].name}`\n"
    )
    create_markdown_artifact(
        markdown=markdown,
        key=f"storage-{result.service}",
        description=f"{ACTION} {result.service}",
    )
