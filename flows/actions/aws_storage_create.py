"""`aws:storage:create` — an existing service's S3 bucket, SQS work queue with its
dead-letter queue, and DynamoDB table, private, encrypted, owned and tagged.

The run: validate (the service exists, the requester is in its team, the region is
allowed) -> write ahead (every resource `provisioning`) -> AWS (each resource
get-or-create, drifted settings brought back) -> each resource `active` with its ARN and
a dependency of the service on it -> a markdown artifact. Re-running a request that
completed changes nothing; one that failed half-way resumes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from pydantic import Field

from blocks import AwsAccount
from flows.actions.aws_results import AwsActionResult, AwsResourceRow, aws_result_fields
from flows.engine.action import apply_or_dry_run, aws_service_run, made
from flows.engine.apply import Applied, Ensure, Submitted, Waits
from flows.engine.context import ServiceContext
from flows.engine.plan import Plan, PlannedResource, ResourceRef
from flows.engine.runtime import service_run_name
from flows.request_models.aws_storage_create import StorageCreateRequest
from registry import policy
from registry.models import Provider
from tasks.aws.storage import DLQ_RETENTION_SECONDS, ensure_bucket, ensure_queue, ensure_table

__all__ = [
    "ACTION",
    "StorageCreateRequest",
    "StorageCreateResult",
    "StorageResource",
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


class StorageResource(AwsResourceRow):
    """One resource the run made sure of, by its ARN."""

    arn: str = Field(description="ARN (empty in a dry run).")


class StorageCreateResult(AwsActionResult):
    """What the run created or found."""

    resources: list[StorageResource] = Field(description="Every resource, in creation order.")


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
    with aws_service_run(ACTION, request, service=request.service, region=request.region) as run:
        context, account, region = run.context, run.account, run.region
        plan = storage_plan(request, context, region)
        outcomes = apply_or_dry_run(
            plan,
            context,
            region=region,
            ensure=storage_ensurers(account.in_region(region), context.tags),
            flow_run_id=run.flow_run_id,
            dry=request.dry_run,
            key=f"plan-storage-{context.service}",
        )
        result = _result(context, region, outcomes=outcomes)
        if request.dry_run:
            return result
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
        **aws_result_fields(context, region, outcomes, row=StorageResource, id_field="arn")
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
