"""Re-tagging AWS resources Paved manages, e.g. when service:transfer moves a service;
reading a resource's tags by its name, e.g. before a clean-up removes it.

Each kind is read and written through its own service's tag API: one code path for every
kind, and it covers what the Resource Groups Tagging API does not (on moto 5.2.5 that API
leaves out ECR and IAM). Only tags whose value differs are written; other tags stay.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from prefect import task

from tasks.aws import NOT_FOUND_CODES, aws_errors, error_code, tag_list, task_logger
from tasks.errors import PermanentProviderError
from tasks.retries import PROVIDER_TASK_OPTIONS

if TYPE_CHECKING:
    from blocks.aws import AwsAccount

__all__ = ["TAGGABLE_KINDS", "read_tags_by_name", "retag"]


def _s3_name(identifier: str) -> str:
    return identifier.removeprefix("arn:aws:s3:::")


def _read_s3(account: AwsAccount, identifier: str) -> dict[str, str]:
    s3 = account.get_client("s3")
    try:
        tag_set = s3.get_bucket_tagging(Bucket=_s3_name(identifier))["TagSet"]
    except ClientError as exc:
        if error_code(exc) == "NoSuchTagSet":
            return {}
        raise
    return {t["Key"]: t["Value"] for t in tag_set}


def _write_s3(account: AwsAccount, identifier: str, merged: dict[str, str]) -> None:
    # PutBucketTagging replaces the whole set: `merged` keeps the tags already there.
    account.get_client("s3").put_bucket_tagging(
        Bucket=_s3_name(identifier), Tagging={"TagSet": tag_list(merged)}
    )


def _queue_url(sqs: Any, identifier: str) -> str:
    if identifier.startswith(("http://", "https://")):
        return identifier
    parts = identifier.split(":")
    if identifier.startswith("arn:") and len(parts) == 6:
        url: str = sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])[
            "QueueUrl"
        ]
        return url
    url = sqs.get_queue_url(QueueName=identifier)["QueueUrl"]
    return url


def _read_sqs(account: AwsAccount, identifier: str) -> dict[str, str]:
    sqs = account.get_client("sqs")
    tags: dict[str, str] = sqs.list_queue_tags(QueueUrl=_queue_url(sqs, identifier)).get("Tags", {})
    return tags


def _write_sqs(account: AwsAccount, identifier: str, merged: dict[str, str]) -> None:
    sqs = account.get_client("sqs")
    sqs.tag_queue(QueueUrl=_queue_url(sqs, identifier), Tags=merged)


def _read_dynamodb(account: AwsAccount, arn: str) -> dict[str, str]:
    pages = account.get_client("dynamodb").list_tags_of_resource(ResourceArn=arn)
    return {t["Key"]: t["Value"] for t in pages.get("Tags", [])}


def _write_dynamodb(account: AwsAccount, arn: str, merged: dict[str, str]) -> None:
    account.get_client("dynamodb").tag_resource(ResourceArn=arn, Tags=tag_list(merged))


def _read_ecr(account: AwsAccount, arn: str) -> dict[str, str]:
    tags = account.get_client("ecr").list_tags_for_resource(resourceArn=arn).get("tags", [])
    return {t["Key"]: t["Value"] for t in tags}


def _write_ecr(account: AwsAccount, arn: str, merged: dict[str, str]) -> None:
    account.get_client("ecr").tag_resource(resourceArn=arn, tags=tag_list(merged))


def _read_logs(account: AwsAccount, arn: str) -> dict[str, str]:
    tags: dict[str, str] = (
        account.get_client("logs")
        .list_tags_for_resource(resourceArn=arn.removesuffix(":*"))
        .get("tags", {})
    )
    return tags


def _write_logs(account: AwsAccount, arn: str, merged: dict[str, str]) -> None:
    account.get_client("logs").tag_resource(resourceArn=arn.removesuffix(":*"), tags=merged)


def _read_ecs(account: AwsAccount, arn: str) -> dict[str, str]:
    tags = account.get_client("ecs").list_tags_for_resource(resourceArn=arn).get("tags", [])
    return {t["key"]: t["value"] for t in tags}


def _write_ecs(account: AwsAccount, arn: str, merged: dict[str, str]) -> None:
    account.get_client("ecs").tag_resource(
        resourceArn=arn, tags=[{"key": k, "value": v} for k, v in sorted(merged.items())]
    )


_Reader = Callable[["AwsAccount", str], dict[str, str]]
_Writer = Callable[["AwsAccount", str, dict[str, str]], None]

# kind -> (read the current tags, write tags); S3 takes a bucket name or ARN, SQS a
# queue ARN, URL or name, every other kind its ARN.
_TAG_APIS: dict[str, tuple[_Reader, _Writer]] = {
    "s3_bucket": (_read_s3, _write_s3),
    "sqs_queue": (_read_sqs, _write_sqs),
    "dynamodb_table": (_read_dynamodb, _write_dynamodb),
    "ecr_repository": (_read_ecr, _write_ecr),
    "cloudwatch_log_group": (_read_logs, _write_logs),
    "ecs_task_definition": (_read_ecs, _write_ecs),
    "ecs_service": (_read_ecs, _write_ecs),
    "ecs_cluster": (_read_ecs, _write_ecs),
}
TAGGABLE_KINDS = frozenset(_TAG_APIS)


def _account_for(account: AwsAccount, identifier: str) -> AwsAccount:
    """The account's clients in the region an ARN names (S3 ARNs and names name none)."""
    parts = identifier.split(":")
    if identifier.startswith("arn:") and len(parts) > 3 and parts[3] and parts[3] != account.region:
        return account.in_region(parts[3])
    return account


@task(name="aws: retag resources", **PROVIDER_TASK_OPTIONS)
def retag(
    account: AwsAccount,
    *,
    resources: list[tuple[str, str]],
    tags: Mapping[str, str],
) -> list[str]:
    """Give every `(kind, arn_or_name)` in `resources` the values in `tags`.

    Returns one line per resource it changed, naming the keys it set; resources already
    carrying `tags` are not written. An unknown kind is a permanent error.
    """
    changed: list[str] = []
    for kind, identifier in resources:
        if kind not in _TAG_APIS:
            raise PermanentProviderError(
                provider="aws",
                operation="retag",
                resource=identifier,
                cause=f"unknown kind {kind!r}; Paved tags {', '.join(sorted(_TAG_APIS))}",
            )
        read, write = _TAG_APIS[kind]
        with aws_errors(f"retag {kind}", identifier):
            regional = _account_for(account, identifier)
            current = read(regional, identifier)
            differing = {key: value for key, value in tags.items() if current.get(key) != value}
            if not differing:
                continue
            # S3 replaces the whole set, the others add or overwrite the keys given.
            write(
                regional, identifier, {**current, **differing} if kind == "s3_bucket" else differing
            )
        changed.append(f"{kind} {identifier}: set {', '.join(sorted(differing))}")
    task_logger().info("Retagged %d of %d resources", len(changed), len(resources))
    return changed


def _found(call: Callable[[], Any], also_missing: frozenset[str] = frozenset()) -> Any:
    """`call()`, or None when AWS answers that the resource does not exist."""
    try:
        return call()
    except ClientError as exc:
        if error_code(exc) in NOT_FOUND_CODES | also_missing | {"404", "NoSuchTagSet"}:
            return None
        raise


def _tags_of_bucket(account: AwsAccount, name: str) -> dict[str, str] | None:
    s3 = account.get_client("s3")
    if _found(lambda: s3.head_bucket(Bucket=name)) is None:
        return None
    return _read_s3(account, name)


def _tags_of_queue(account: AwsAccount, name: str) -> dict[str, str] | None:
    sqs = account.get_client("sqs")
    found = _found(lambda: sqs.get_queue_url(QueueName=name))
    return None if found is None else _read_sqs(account, found["QueueUrl"])


def _tags_of_table(account: AwsAccount, name: str) -> dict[str, str] | None:
    found = _found(lambda: account.get_client("dynamodb").describe_table(TableName=name))
    return None if found is None else _read_dynamodb(account, found["Table"]["TableArn"])


def _tags_of_ecr(account: AwsAccount, name: str) -> dict[str, str] | None:
    ecr = account.get_client("ecr")
    found = _found(lambda: ecr.describe_repositories(repositoryNames=[name]))
    return None if found is None else _read_ecr(account, found["repositories"][0]["repositoryArn"])


def _tags_of_log_group(account: AwsAccount, name: str) -> dict[str, str] | None:
    logs = account.get_client("logs")
    for group in logs.describe_log_groups(logGroupNamePrefix=name).get("logGroups", []):
        if group["logGroupName"] == name:
            return _read_logs(account, str(group["arn"]))
    return None


def _tags_of_family(account: AwsAccount, name: str) -> dict[str, str] | None:
    ecs = account.get_client("ecs")
    found = _found(
        lambda: ecs.describe_task_definition(taskDefinition=name, include=["TAGS"]),
        also_missing=frozenset({"ClientException"}),
    )
    return None if found is None else {t["key"]: t["value"] for t in found.get("tags", [])}


def _tags_of_ecs_service(account: AwsAccount, name: str) -> dict[str, str] | None:
    ecs = account.get_client("ecs")
    found = _found(
        lambda: ecs.describe_services(cluster=account.ecs_cluster, services=[name]),
        also_missing=frozenset({"ClusterNotFoundException"}),
    )
    active = [s for s in (found or {}).get("services", []) if s.get("status") == "ACTIVE"]
    return _read_ecs(account, active[0]["serviceArn"]) if active else None


def _tags_of_role(account: AwsAccount, name: str) -> dict[str, str] | None:
    iam = account.get_client("iam")
    found = _found(lambda: iam.list_role_tags(RoleName=name))
    return None if found is None else {t["Key"]: t["Value"] for t in found.get("Tags", [])}


_TAGS_BY_NAME: dict[str, Callable[[AwsAccount, str], dict[str, str] | None]] = {
    "s3_bucket": _tags_of_bucket,
    "sqs_queue": _tags_of_queue,
    "dynamodb_table": _tags_of_table,
    "ecr_repository": _tags_of_ecr,
    "cloudwatch_log_group": _tags_of_log_group,
    "ecs_task_definition": _tags_of_family,
    "ecs_service": _tags_of_ecs_service,
    "iam_role": _tags_of_role,
}


@task(name="aws: read tags", **PROVIDER_TASK_OPTIONS)
def read_tags_by_name(account: AwsAccount, *, kind: str, name: str) -> dict[str, str] | None:
    """The tags of the `kind` resource named `name` in the account's region (a task
    definition: its latest ACTIVE revision); None when there is no such resource.

    By name, so it answers for a resource whose creation failed before its ARN was known.
    """
    if kind not in _TAGS_BY_NAME:
        raise PermanentProviderError(
            provider="aws",
            operation="read tags",
            resource=name,
            cause=f"unknown kind {kind!r}; Paved reads {', '.join(sorted(_TAGS_BY_NAME))}",
        )
    with aws_errors(f"read tags of {kind}", name):
        return _TAGS_BY_NAME[kind](account, name)
