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
from collections.abc import Mapping, Sequence
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel, Field, field_validator, model_validator

from blocks import AWS_BLOCK, AwsAccount, load_block
from flows.engine.action import Summary, allowed_region, dry_run, made, resource_rows
from flows.engine.apply import Applied, Ensure, Submitted, Waits, apply_plan
from flows.engine.context import ServiceContext, load_service_context
from flows.engine.plan import Plan, PlannedResource, ResourceRef
from flows.engine.request import PavedRequest
from flows.engine.runtime import journaled, owning_team, service_run_name
from registry import policy
from registry.errors import PolicyViolation
from registry.models import Provider
from tasks.aws.storage import DLQ_RETENTION_SECONDS, ensure_bucket, ensure_queue, ensure_table

__all__ = [
    "ACTION",
    "StorageCreateRequest",
    "StorageCreateResult",
    "StorageResource",
    "allowed_region",
    "aws_storage_create",
    "storage_plan",
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


def storage_plan(request: StorageCreateRequest, context: ServiceContext, region: str) -> Plan:
    """The resources the request asks for: the bucket, the dead-letter queue and the
    queue redriving to it, the table. Pure: no provider call."""

    def planned(kind: str, purpose: str, **spec: Any) -> PlannedResource:
        name = policy.resource_name(team=context.team, service=context.service, purpose=purpose)
        ref = ResourceRef(service=context.service, provider=Provider.AWS, kind=kind, name=name)
        return PlannedResource(ref=ref, spec={"region": region, **spec}, relation="stores")

    resources: list[PlannedResource] = []
    if request.bucket:
        resources.append(
            planned(
                BUCKET_KIND,
                BUCKET_PURPOSE,
                versioning=request.versioning,
                encryption=ENCRYPTION,
                public_access="blocked",
            )
        )
    if request.queue:
        queue_name = policy.resource_name(
            team=context.team, service=context.service, purpose=QUEUE_PURPOSE
        )
        dlq = planned(
            QUEUE_KIND,
            DLQ_PURPOSE,
            message_retention_days=DLQ_RETENTION_SECONDS // 86400,
            dead_letter_queue_of=queue_name,
        )
        queue = planned(
            QUEUE_KIND,
            QUEUE_PURPOSE,
            visibility_timeout_seconds=request.visibility_timeout_seconds,
            message_retention_days=request.message_retention_days,
            max_receive_count=request.max_receive_count,
            dead_letter_queue=dlq.ref.name,
        )
        queue.depends_on = [dlq.key]  # its redrive policy names the DLQ's ARN
        resources += [dlq, queue]
    if request.table:
        table = planned(
            TABLE_KIND,
            TABLE_PURPOSE,
            billing_mode="PAY_PER_REQUEST",
            partition_key=request.partition_key,
            sort_key=request.sort_key,
        )
        # Order only, as before the engine: the table is made once the queues are, so a
        # queue that fails leaves the table's intent on record. The lead may drop this
        # edge (the table would then be made beside the queues).
        table.after = [item.key for item in resources if item.ref.kind == QUEUE_KIND]
        resources.append(table)
    return Plan(action=ACTION, service=context.service, resources=resources)


def storage_ensurers(account: AwsAccount, tags: dict[str, str]) -> dict[str, Ensure]:
    """How the engine makes sure of each storage kind: its ensure task in `account`."""

    def bucket(item: PlannedResource, _: Mapping[str, Applied], wait: Waits) -> Submitted:
        future = ensure_bucket.submit(
            account,
            name=item.ref.name,
            tags=tags,
            versioning=item.spec["versioning"],
            encryption=item.spec["encryption"],
        )
        return Submitted(future, lambda r: Applied(external_id=r.arn, **made(r)))

    def queue(item: PlannedResource, upstream: Mapping[str, Applied], wait: Waits) -> Submitted:
        spec = item.spec
        dead_letter = {}
        if upstream:  # the work queue: redrive to its DLQ
            (dlq,) = upstream.values()
            dead_letter = {
                "dead_letter_arn": dlq.external_id,
                "max_receive_count": spec["max_receive_count"],
                "visibility_timeout": spec["visibility_timeout_seconds"],
            }
        future = ensure_queue.submit(
            account,
            name=item.ref.name,
            tags=tags,
            message_retention_seconds=spec["message_retention_days"] * 86400,
            **dead_letter,
            wait_for=wait,
            return_state=False,
        )
        return Submitted(future, lambda r: Applied(external_id=r.arn, url=r.url, **made(r)))

    def table(item: PlannedResource, _: Mapping[str, Applied], wait: Waits) -> Submitted:
        future = ensure_table.submit(
            account,
            name=item.ref.name,
            partition_key=item.spec["partition_key"],
            sort_key=item.spec["sort_key"],
            tags=tags,
            wait_for=wait,
            return_state=False,
        )
        return Submitted(future, lambda r: Applied(external_id=r.arn, **made(r)))

    return {BUCKET_KIND: bucket, QUEUE_KIND: queue, TABLE_KIND: table}


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
    ) as run:
        context = load_service_context(service=request.service, requester=request.requester)
        account = load_block(AwsAccount, AWS_BLOCK)
        region = allowed_region(request.region, account)
        plan = storage_plan(request, context, region)
        if request.dry_run:
            dry_run(plan, context, region=region, key=f"plan-storage-{context.service}")
            return _result(context, region, outcomes=[(item, None) for item in plan.resources])
        applied = apply_plan(
            plan,
            context=context,
            ensure=storage_ensurers(account.in_region(region), context.tags),
            flow_run_id=run.flow_run_id,
        )
        result = _result(context, region, outcomes=applied)
        _report(result)
        get_run_logger().info(
            "Storage of %s in %s: created %s; unchanged %s",
            context.service,
            region,
            ", ".join(result.created) or "nothing",
            ", ".join(result.unchanged) or "nothing",
        )
        return result


def _result(
    context: ServiceContext,
    region: str,
    *,
    outcomes: Sequence[tuple[PlannedResource, Applied | None]],
) -> StorageCreateResult:
    """The result of a run (`None` outcomes: a dry run, every resource `planned`)."""
    return StorageCreateResult(
        service=context.service,
        team=context.team,
        owner=context.owner,
        region=region,
        resources=[StorageResource(**row) for row in resource_rows(outcomes, id_field="arn")],
        **Summary.of(outcomes).model_dump(),
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
