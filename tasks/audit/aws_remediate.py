"""Drift remediation on AWS: one resource brought back to the settings and tags the
registry declares for it (the keys `aws_inventory` observes).

Each kind reads what is there and writes only what differs, so restoring a resource
that is right changes nothing and says so (an empty list). It restores, never creates
nor deletes: a resource that is gone is reported, not re-made, and tags other than the
declared ones stay. What AWS cannot change in place (a table's keys, a switch to
provisioned capacity the registry gives no numbers for) is reported as not restored.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from prefect import task

from tasks.aws import NOT_FOUND_CODES, aws_errors, error_code, tag_list, task_logger
from tasks.aws.compute import _find_log_group
from tasks.aws.storage import (
    _describe_table,
    _queue_url,
    _same_attribute,
    converge_bucket_settings,
)
from tasks.aws.tagging import TAGGABLE_KINDS, retag
from tasks.errors import PermanentProviderError
from tasks.retries import PROVIDER_TASK_OPTIONS

if TYPE_CHECKING:
    from blocks.aws import AwsAccount

__all__ = ["RESTORABLE_KINDS", "restore_aws_resource", "restore_aws_resource_task"]

_DAY = 86400
_ON_DEMAND = "PAY_PER_REQUEST"

# What a restorer answers: the changes it made, or None when the resource is gone.
_Restorer = Callable[["AwsAccount", str, str, Mapping[str, Any]], list[str] | None]


def _exists(call: Callable[..., Any], **kwargs: Any) -> bool:
    try:
        call(**kwargs)
    except ClientError as exc:
        if error_code(exc) in {"404", *NOT_FOUND_CODES}:
            return False
        raise
    return True


def _restore_bucket(
    account: AwsAccount, name: str, arn: str, declared: Mapping[str, Any]
) -> list[str] | None:
    s3 = account.get_client("s3")
    if not _exists(s3.head_bucket, Bucket=name):
        return None
    return converge_bucket_settings(
        s3,
        name,
        block_public=declared.get("public_access") == "blocked",
        encryption=declared.get("encryption"),
        versioning=declared.get("versioning"),
    )


def _declared_queue_attributes(arn: str, declared: Mapping[str, Any]) -> dict[str, str]:
    wanted: dict[str, str] = {}
    if declared.get("visibility_timeout_seconds") is not None:
        wanted["VisibilityTimeout"] = str(int(declared["visibility_timeout_seconds"]))
    if declared.get("message_retention_days") is not None:
        wanted["MessageRetentionPeriod"] = str(int(declared["message_retention_days"] * _DAY))
    dead_letter_queue, count = declared.get("dead_letter_queue"), declared.get("max_receive_count")
    if dead_letter_queue and count is not None:
        # Paved keeps a queue's DLQ beside it: same account and region, its own name.
        target = f"{arn.rsplit(':', 1)[0]}:{dead_letter_queue}"
        wanted["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": target, "maxReceiveCount": int(count)}
        )
    return wanted


def _restore_queue(
    account: AwsAccount, name: str, arn: str, declared: Mapping[str, Any]
) -> list[str] | None:
    sqs = account.get_client("sqs")
    url = _queue_url(sqs, name)
    if url is None:
        return None
    current = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    wanted = _declared_queue_attributes(current.get("QueueArn") or arn, declared)
    differing = {
        key: value
        for key, value in wanted.items()
        if not _same_attribute(key, current.get(key), value)
    }
    if differing:
        sqs.set_queue_attributes(QueueUrl=url, Attributes=differing)
    return [
        f"set {key} of queue {name} to {value} (was {current.get(key) or 'unset'})"
        for key, value in sorted(differing.items())
    ]


def _restore_table(
    account: AwsAccount, name: str, arn: str, declared: Mapping[str, Any]
) -> list[str] | None:
    dynamodb = account.get_client("dynamodb")
    table = _describe_table(dynamodb, name)
    if table is None:
        return None
    changes: list[str] = []
    keys = {key["KeyType"]: key["AttributeName"] for key in table.get("KeySchema", [])}
    for setting, key_type in (("partition_key", "HASH"), ("sort_key", "RANGE")):
        if setting in declared and declared[setting] != keys.get(key_type):
            changes.append(
                f"not restored: {setting} of table {name} is {keys.get(key_type)}, declared "
                f"{declared[setting]}; keys cannot change after creation"
            )
    billing = table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    wanted = declared.get("billing_mode")
    if wanted and billing != wanted:
        if wanted == _ON_DEMAND:
            dynamodb.update_table(TableName=name, BillingMode=_ON_DEMAND)
            changes.append(f"set billing mode of table {name} to {_ON_DEMAND} (was {billing})")
        else:
            changes.append(
                f"not restored: billing mode of table {name} is {billing}, declared {wanted}, "
                "and the registry declares no capacity to provision"
            )
    return changes


def _restore_repository(
    account: AwsAccount, name: str, arn: str, declared: Mapping[str, Any]
) -> list[str] | None:
    ecr = account.get_client("ecr")
    try:
        repo = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    except ClientError as exc:
        if error_code(exc) in NOT_FOUND_CODES:
            return None
        raise
    changes: list[str] = []
    mutability = declared.get("image_tag_mutability")
    if mutability and repo.get("imageTagMutability") != mutability:
        ecr.put_image_tag_mutability(repositoryName=name, imageTagMutability=mutability)
        changes.append(
            f"set image tag mutability of {name} to {mutability} "
            f"(was {repo.get('imageTagMutability')})"
        )
    scan = declared.get("scan_on_push")
    current_scan = bool(repo.get("imageScanningConfiguration", {}).get("scanOnPush"))
    if scan is not None and current_scan != bool(scan):
        ecr.put_image_scanning_configuration(
            repositoryName=name, imageScanningConfiguration={"scanOnPush": bool(scan)}
        )
        changes.append(f"set scan on push of {name} to {bool(scan)} (was {current_scan})")
    return changes


def _restore_log_group(
    account: AwsAccount, name: str, arn: str, declared: Mapping[str, Any]
) -> list[str] | None:
    logs = account.get_client("logs")
    group = _find_log_group(logs, name)
    if group is None:
        return None
    wanted = declared.get("retention_days")
    current = group.get("retentionInDays")
    # No declared retention means nothing to restore: unsetting it would be a delete call.
    if wanted is None or current == wanted:
        return []
    logs.put_retention_policy(logGroupName=name, retentionInDays=int(wanted))
    return [f"set retention of log group {name} to {wanted} days (was {current or 'never'})"]


def _restore_service(
    account: AwsAccount, name: str, arn: str, declared: Mapping[str, Any]
) -> list[str] | None:
    # arn:aws:ecs:<region>:<account>:service/<cluster>/<name>
    cluster = declared.get("cluster") or arn.rsplit("/", 2)[-2]
    services = (
        account.get_client("ecs")
        .describe_services(cluster=cluster, services=[arn])
        .get("services", [])
    )
    # Only tags are restored: the service's settings are the compute action's to converge.
    return [] if any(s.get("status") == "ACTIVE" for s in services) else None


def _restore_role(
    account: AwsAccount, name: str, arn: str, declared: Mapping[str, Any]
) -> list[str] | None:
    # A role's trust and permissions are the pipeline action's to converge; only tags
    # here. A policy added by hand is never removed (it may be what keeps someone's
    # deploy working): it is reported, and its finding stays open for a person.
    iam = account.get_client("iam")
    if not _exists(iam.get_role, RoleName=name):
        return None
    if "inline_policies" not in declared:
        return []
    inline = set(iam.list_role_policies(RoleName=name).get("PolicyNames", []))
    attached = {
        p["PolicyArn"]
        for p in iam.list_attached_role_policies(RoleName=name).get("AttachedPolicies", [])
    }
    extra = sorted(inline - set(declared["inline_policies"])) + sorted(
        attached - set(declared.get("attached_policy_arns", []))
    )
    if not extra:
        return []
    return [f"not restored: policies on role {name} Paved did not put there: {', '.join(extra)}"]


_RESTORERS: dict[str, _Restorer] = {
    "s3_bucket": _restore_bucket,
    "sqs_queue": _restore_queue,
    "dynamodb_table": _restore_table,
    "ecr_repository": _restore_repository,
    "cloudwatch_log_group": _restore_log_group,
    "ecs_service": _restore_service,
    "iam_role": _restore_role,
}
RESTORABLE_KINDS = frozenset(_RESTORERS)


def _restore_role_tags(account: AwsAccount, name: str, tags: Mapping[str, str]) -> list[str]:
    iam = account.get_client("iam")
    current = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=name).get("Tags", [])}
    differing = {key: value for key, value in tags.items() if current.get(key) != value}
    if not differing:
        return []
    iam.tag_role(RoleName=name, Tags=tag_list(differing))
    return [f"iam_role {name}: set {', '.join(sorted(differing))}"]


def _regional(account: AwsAccount, external_id: str, declared: Mapping[str, Any]) -> AwsAccount:
    """The account's clients in the resource's region: the declared one, else the one its
    ARN names (S3 ARNs name none, IAM is global)."""
    parts = external_id.split(":")
    region = declared.get("region") or (parts[3] if len(parts) > 3 else "")
    if not region or region == account.region:
        return account
    try:
        return account.in_region(str(region))
    except ValueError as exc:
        raise PermanentProviderError(
            provider="aws", operation="restore resource", resource=external_id, cause=str(exc)
        ) from exc


def restore_aws_resource(
    account: AwsAccount,
    *,
    kind: str,
    name: str,
    external_id: str,
    declared: Mapping[str, Any],
    declared_tags: Mapping[str, str],
) -> list[str]:
    """Bring the `kind` resource `name` (ARN `external_id`) back to its `declared` spec
    and tags; returns one line per change made or left undone, empty when all was right.

    Raises PermanentProviderError for a kind it does not know, Transient or Permanent
    ProviderError when AWS fails.
    """
    restorer = _RESTORERS.get(kind)
    if restorer is None:
        raise PermanentProviderError(
            provider="aws",
            operation="restore resource",
            resource=external_id,
            cause=f"unknown kind {kind!r}; restorable: {', '.join(sorted(_RESTORERS))}",
        )
    regional = _regional(account, external_id, declared)
    with aws_errors(f"restore {kind}", name):
        changes = restorer(regional, name, external_id, declared)
        if changes is None:
            return [f"not restored: {kind} {name} does not exist"]
        if not declared_tags:
            return changes
        if kind in TAGGABLE_KINDS:
            changes += retag.fn(regional, resources=[(kind, external_id)], tags=declared_tags)
        else:
            changes += _restore_role_tags(regional, name, declared_tags)
    return changes


@task(name="aws: restore resource", **PROVIDER_TASK_OPTIONS)
def restore_aws_resource_task(
    account: AwsAccount,
    *,
    kind: str,
    name: str,
    external_id: str,
    declared: Mapping[str, Any],
    declared_tags: Mapping[str, str],
) -> list[str]:
    """`restore_aws_resource` as a retrying Prefect task."""
    changes = restore_aws_resource(
        account,
        kind=kind,
        name=name,
        external_id=external_id,
        declared=declared,
        declared_tags=declared_tags,
    )
    task_logger().info("Restore of %s %s: %s", kind, name, "; ".join(changes) or "nothing to do")
    return changes
