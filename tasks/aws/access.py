"""AWS access tasks: a person's IAM user and the inline policies that grant them access.

A grant of `read` or `write` on a service's AWS resources is an inline policy
`paved-<service>-<permission>` on the IAM user `paved-<handle>`. The document is built
here from the resources' ARNs (`access_policy_document`) and validated by
`tasks.aws.policy_documents.validate_policy_document` before any call, since moto (like
a careless template) accepts any JSON. Every task is idempotent: the user is got or
created, the policy is put only when it differs, and deleting what is gone is success.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote

from botocore.exceptions import ClientError
from prefect import task
from pydantic import BaseModel, Field

from tasks.aws import NOT_FOUND_CODES, aws_errors, error_code, tag_list, task_logger
from tasks.aws.policy_documents import POLICY_VERSION, validate_policy_document
from tasks.errors import PermanentProviderError
from tasks.retries import PROVIDER_TASK_OPTIONS

if TYPE_CHECKING:
    from blocks.aws import AwsAccount

__all__ = [
    "ACCESS_ACTIONS",
    "CONSUMING_ACTIONS",
    "IamUserInfo",
    "access_policy_document",
    "delete_user_policy",
    "ensure_iam_user",
    "ensure_user_policy",
]

AccessLevel = Literal["read", "write"]

# What `read` and `write` mean per service; write includes read.
ACCESS_ACTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "s3": {
        "read": ("s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"),
        "write": ("s3:PutObject", "s3:DeleteObject"),
    },
    "sqs": {
        # Reading a queue is looking at it: receiving, hiding or deleting a message takes
        # it from the service that consumes it, so no grant includes CONSUMING_ACTIONS.
        "read": ("sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ListQueueTags"),
        "write": ("sqs:SendMessage",),
    },
    "dynamodb": {
        "read": (
            "dynamodb:GetItem",
            "dynamodb:BatchGetItem",
            "dynamodb:Query",
            "dynamodb:Scan",
            "dynamodb:DescribeTable",
        ),
        "write": (
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:BatchWriteItem",
        ),
    },
}


# Actions that consume a queue's messages: the service's own role does that, never a person.
CONSUMING_ACTIONS = frozenset(
    {"sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:PurgeQueue"}
)


class IamUserInfo(BaseModel):
    """A person's IAM user as Paved left it."""

    name: str = Field(description="IAM user name.")
    arn: str = Field(description="Its ARN.")
    created: bool = Field(description="True when this call created it.")


def _service_of(arn: str) -> str:
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        raise ValueError(f"{arn!r} is not an ARN")
    return parts[2]


def access_policy_document(
    arns: Iterable[str], *, permission: AccessLevel, environment: str
) -> dict[str, Any]:
    """A least-privilege permissions policy giving `permission` on `arns` (S3 buckets,
    SQS queues, DynamoDB tables) of one `environment`, one statement per service, each
    Sid naming the environment; validated. The caller picks the ARNs of that environment:
    an ARN does not say which one it belongs to.

    Raises ValueError for an ARN of another service, or when `arns` is empty.
    """
    if not environment.isalnum():
        raise ValueError(f"environment {environment!r}: letters and digits only")
    by_service: dict[str, list[str]] = {}
    for arn in sorted(set(arns)):
        service = _service_of(arn)
        if service not in ACCESS_ACTIONS:
            raise ValueError(f"{arn!r}: Paved grants access to S3, SQS and DynamoDB only")
        by_service.setdefault(service, []).append(arn)
    if not by_service:
        raise ValueError("no S3, SQS or DynamoDB resource to grant access to")
    statements = []
    for service, resources in sorted(by_service.items()):
        actions = ACCESS_ACTIONS[service]["read"]
        if permission == "write":
            actions = actions + ACCESS_ACTIONS[service]["write"]
        if service == "s3":
            # Object actions apply to the objects, bucket actions to the bucket.
            resources = [item for arn in resources for item in (arn, f"{arn}/*")]
        if service == "dynamodb":
            resources = [item for arn in resources for item in (arn, f"{arn}/index/*")]
        statements.append(
            {
                "Sid": f"Paved{service.capitalize()}{permission.capitalize()}"
                f"{environment.capitalize()}",
                "Effect": "Allow",
                "Action": sorted(actions),
                "Resource": resources,
            }
        )
    document = {"Version": POLICY_VERSION, "Statement": statements}
    validate_policy_document(document, kind="permissions")
    return document


@task(name="aws: ensure IAM user", **PROVIDER_TASK_OPTIONS)
def ensure_iam_user(account: AwsAccount, *, user_name: str, tags: Mapping[str, str]) -> IamUserInfo:
    """Get or create the IAM user `user_name`, carrying at least `tags`."""
    iam = account.get_client("iam")
    with aws_errors("ensure IAM user", user_name):
        try:
            user = iam.get_user(UserName=user_name)["User"]
            created = False
        except ClientError as exc:
            if error_code(exc) not in NOT_FOUND_CODES:
                raise
            user = iam.create_user(UserName=user_name, Tags=tag_list(tags))["User"]
            created = True
            task_logger().info("Created IAM user %s", user_name)
        if not created:
            current = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=user_name)["Tags"]}
            missing = {k: v for k, v in tags.items() if current.get(k) != v}
            if missing:
                iam.tag_user(UserName=user_name, Tags=tag_list(missing))
        return IamUserInfo(name=user_name, arn=user["Arn"], created=created)


def _current_policy(iam: Any, user_name: str, policy_name: str) -> dict[str, Any] | None:
    try:
        document = iam.get_user_policy(UserName=user_name, PolicyName=policy_name)["PolicyDocument"]
    except ClientError as exc:
        if error_code(exc) in NOT_FOUND_CODES:
            return None
        raise
    # boto3 decodes the document; some endpoints hand back the URL-encoded JSON string.
    if isinstance(document, str):
        parsed: dict[str, Any] = json.loads(unquote(document))
        return parsed
    return dict(document)


@task(name="aws: put user policy", **PROVIDER_TASK_OPTIONS)
def ensure_user_policy(
    account: AwsAccount, *, user_name: str, policy_name: str, document: dict[str, Any]
) -> bool:
    """Make the inline policy `policy_name` of `user_name` exactly `document` (validated
    first); returns True when it changed it."""
    resource = f"{user_name}/{policy_name}"
    try:
        validate_policy_document(document, kind="permissions")
    except ValueError as exc:
        raise PermanentProviderError(
            provider="aws", operation="put user policy", resource=resource, cause=str(exc)
        ) from exc
    iam = account.get_client("iam")
    with aws_errors("put user policy", resource):
        if _current_policy(iam, user_name, policy_name) == document:
            return False
        iam.put_user_policy(
            UserName=user_name, PolicyName=policy_name, PolicyDocument=json.dumps(document)
        )
        task_logger().info("Put inline policy %s on IAM user %s", policy_name, user_name)
        return True


@task(name="aws: delete user policy", **PROVIDER_TASK_OPTIONS)
def delete_user_policy(account: AwsAccount, *, user_name: str, policy_name: str) -> bool:
    """Delete the inline policy; a missing user or policy is done. True when it deleted."""
    iam = account.get_client("iam")
    with aws_errors("delete user policy", f"{user_name}/{policy_name}"):
        try:
            iam.delete_user_policy(UserName=user_name, PolicyName=policy_name)
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND_CODES:
                return False
            raise
        task_logger().info("Deleted inline policy %s of IAM user %s", policy_name, user_name)
        return True
