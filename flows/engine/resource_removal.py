"""Removing a service's resources, kind by kind, in reverse dependency order.

Used by service:decommission and by service:create's clean-up after a failure. Every
removal ignores what is already gone, so a removal that failed half-way is simply run
again. A GitHub repository is archived, not deleted: its history outlives the service.
An AWS resource is removed in the region it was made in (the registry's spec records
it), and `not_ours` tells a caller, before removing, that the provider says it is
another's (never delete what is not ours).
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, Field

from flows.engine.providers import Providers
from registry.models import Resource
from registry.policy import TAG_SERVICE
from tasks.aws.compute import (
    delete_ecr_repository,
    delete_log_group,
    delete_service,
    deregister_task_definitions,
)
from tasks.aws.iam import delete_deploy_role
from tasks.aws.storage import delete_bucket, delete_queue, delete_table
from tasks.aws.tagging import read_tags_by_name
from tasks.github import delete_environment
from tasks.github_lifecycle import archive_repository
from tasks.kafka import delete_topic

__all__ = [
    "REMOVAL_ORDER",
    "Providers",
    "RemovableResource",
    "not_ours",
    "removal_order",
    "remove",
]

# Kinds in the order they are removed: what runs first (and depends on the rest) goes
# first, the repository last. A kind missing here is never removed by Paved (e.g. the
# account-wide GitHub OIDC provider, shared by every service).
REMOVAL_ORDER = (
    "ecs_service",
    "ecs_task_definition",
    "cloudwatch_log_group",
    "iam_role",
    "github_environment",
    "github_workflow",
    "ecr_repository",
    "sqs_queue",
    "dynamodb_table",
    "s3_bucket",
    "kafka_topic",
    "github_repository",
)


class RemovableResource(BaseModel):
    """A resource as the registry knows it, detached from any session."""

    provider: str = Field(description="github, aws or kafka.")
    kind: str = Field(description="Registry kind.")
    name: str = Field(description="Policy name (the registry's natural key).")
    external_id: str | None = Field(default=None, description="Provider id, when known.")
    region: str | None = Field(
        default=None,
        description="AWS region it was made in; empty: the account's default (or global).",
    )

    @classmethod
    def of(cls, resource: Resource) -> RemovableResource:
        """The registry's resource, with the region its spec records."""
        region = (resource.spec or {}).get("region")
        return cls(
            provider=str(resource.provider),
            kind=resource.kind,
            name=resource.name,
            external_id=resource.external_id,
            region=str(region) if region else None,
        )


def removal_order(resources: Iterable[RemovableResource]) -> list[RemovableResource]:
    """The resources Paved removes, ordered; a queue goes before its dead-letter queue."""
    rank = {kind: position for position, kind in enumerate(REMOVAL_ORDER)}
    removable = [resource for resource in resources if resource.kind in rank]
    return sorted(removable, key=lambda r: (rank[r.kind], r.name.endswith("-dlq"), r.name))


def _split(name: str) -> tuple[str, str]:
    """`acme/orders:production` -> (`acme/orders`, `production`)."""
    repository, _, rest = name.partition(":")
    return repository, rest


def not_ours(resource: RemovableResource, providers: Providers, *, service: str) -> str | None:
    """Why `resource` must not be removed for `service` (the AWS resource exists and is
    not tagged for it), or None. Kafka topics and GitHub repositories carry no such tag;
    their actions refuse one that is not the service's before recording it."""
    if resource.provider != "aws" or resource.kind not in REMOVAL_ORDER:
        return None
    tags = read_tags_by_name(
        providers.aws_in(resource.region), kind=resource.kind, name=resource.name
    )
    if tags is None or tags.get(TAG_SERVICE) == service:
        return None
    shown = ", ".join(f"{key}={value}" for key, value in sorted(tags.items())) or "no tags"
    return f"{resource.kind} {resource.name} is not tagged {TAG_SERVICE}={service} ({shown})"


def remove(resource: RemovableResource, providers: Providers) -> bool:
    """Remove one resource; True when something was removed, False when it was gone."""
    name, kind = resource.name, resource.kind
    aws = providers.aws_in(resource.region) if resource.provider == "aws" else None
    if kind == "ecs_service" and aws is not None:
        return delete_service(aws, cluster=aws.ecs_cluster, name=name)
    if kind == "ecs_task_definition" and aws is not None:
        return bool(deregister_task_definitions(aws, family=name))
    if kind == "cloudwatch_log_group" and aws is not None:
        return delete_log_group(aws, name=name)
    if kind == "iam_role" and aws is not None:
        return delete_deploy_role(aws, name=name)
    if kind == "github_environment":
        repository, environment = _split(name)
        return delete_environment(providers.github, full_name=repository, name=environment)
    if kind == "github_workflow":
        return False  # workflow files live in the repository, archived with it
    if kind == "ecr_repository" and aws is not None:
        return delete_ecr_repository(aws, name=name)
    if kind == "sqs_queue" and aws is not None:
        return delete_queue(aws, name=name)
    if kind == "dynamodb_table" and aws is not None:
        return delete_table(aws, name=name)
    if kind == "s3_bucket" and aws is not None:
        return delete_bucket(aws, name=name)
    if kind == "kafka_topic":
        return delete_topic(providers.kafka, name=name)
    if kind == "github_repository":
        return archive_repository(providers.github, full_name=name)
    raise ValueError(f"Paved does not remove resources of kind {kind!r}")
