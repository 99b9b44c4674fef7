"""AWS tasks, one module per group of services: storage, compute, iam, access, tagging.

This module holds what they share: turning botocore failures into tasks.errors by
class (throttling, 5xx and dropped connections are transient; everything else is
permanent), and the policy tags in the shapes AWS APIs want.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from pydantic import BaseModel, Field

from tasks.errors import (
    PermanentProviderError,
    ProviderError,
    ResourceConflict,
    TransientProviderError,
)
from tasks.logs import task_logger

__all__ = [
    "NOT_FOUND_CODES",
    "SERVICE_TAG",
    "TRANSIENT_CODES",
    "AwsResourceInfo",
    "aws_errors",
    "delete_unless_gone",
    "error_code",
    "missing_tags",
    "refuse_unless_ours",
    "tag_list",
    "task_logger",
]

PROVIDER = "aws"
# registry.policy.TAG_SERVICE (tasks may not import the registry; a test keeps them equal):
# the tag that makes a resource one service's.
SERVICE_TAG = "paved:service"

# Error codes AWS returns while throttling or briefly failing; retrying helps.
TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
    }
)

# Codes meaning "no such thing": deletes treat them as success.
NOT_FOUND_CODES = frozenset(
    {
        "NoSuchBucket",
        "NoSuchEntity",
        "NoSuchKey",
        "NotFound",
        "ResourceNotFoundException",
        "RepositoryNotFoundException",
        "ClusterNotFoundException",
        "ServiceNotFoundException",
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
    }
)

_TRANSPORT_ERRORS = (
    EndpointConnectionError,
    ConnectTimeoutError,
    ReadTimeoutError,
    ConnectionClosedError,
)


class AwsResourceInfo(BaseModel):
    """What an ensure_* task returns about the resource it made sure of."""

    name: str = Field(description="Resource name.")
    arn: str = Field(description="Resource ARN.")
    created: bool = Field(description="True when this call created it.")
    changes: list[str] = Field(description="What this call changed; empty when all was in place.")


def error_code(exc: ClientError) -> str:
    """The AWS error code of a ClientError ('' when the response has none)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextmanager
def aws_errors(operation: str, resource: str) -> Iterator[None]:
    """Turn botocore failures into Transient or PermanentProviderError naming `resource`."""
    try:
        yield
    except ProviderError:
        raise
    except ClientError as exc:
        code = error_code(exc)
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        message = exc.response.get("Error", {}).get("Message", "") or str(exc)
        transient = code in TRANSIENT_CODES or status >= 500
        error_class = TransientProviderError if transient else PermanentProviderError
        raise error_class(
            provider=PROVIDER,
            operation=operation,
            resource=resource,
            cause=f"{code or 'HTTP ' + str(status)}: {message}",
        ) from exc
    except _TRANSPORT_ERRORS as exc:
        raise TransientProviderError(
            provider=PROVIDER,
            operation=operation,
            resource=resource,
            cause=f"connection failed ({type(exc).__name__})",
        ) from exc


def missing_tags(current: Mapping[str, str], wanted: Mapping[str, str]) -> dict[str, str]:
    """The wanted tags the resource lacks or holds with another value (tags are merged)."""
    return {key: value for key, value in wanted.items() if current.get(key) != value}


def delete_unless_gone(operation: str, name: str, call: Callable[[], Any]) -> bool:
    """`call()` (one delete) under `aws_errors`; False when AWS says it was already gone."""
    with aws_errors(operation, name):
        try:
            call()
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND_CODES:
                return False
            raise
    task_logger().info("%s %s: done", operation, name)
    return True


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """Tags as most AWS APIs want them: [{"Key": ..., "Value": ...}], sorted by key."""
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


def refuse_unless_ours(
    *, kind: str, name: str, current: Mapping[str, str], tags: Mapping[str, str]
) -> None:
    """Raise ResourceConflict unless the existing resource carries the `paved:service`
    tag of `tags`: a resource made by hand, or by another service, is never adopted.

    Called by every get-or-create before it changes anything on a resource it found.
    """
    wanted = tags.get(SERVICE_TAG)
    if wanted is not None and current.get(SERVICE_TAG) == wanted:
        return
    shown = ", ".join(f"{key}={value}" for key, value in sorted(current.items())) or "no tags"
    raise ResourceConflict(
        provider=PROVIDER,
        operation=f"ensure {kind}",
        resource=name,
        cause=(
            f"{kind} {name} exists and is not tagged {SERVICE_TAG}={wanted}; its tags: "
            f"{shown}. Paved never adopts a resource it did not make for this service and "
            "changed nothing: pick another name, or delete or rename the existing one"
        ),
    )
