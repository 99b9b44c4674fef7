"""Removing a service's resources, kind by kind, in reverse dependency order.

Used by service:decommission and by service:create's clean-up after a failure. Every
removal ignores what is already gone, so a removal that failed half-way is simply run
again. A GitHub repository is archived, not deleted: its history outlives the service.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property

from pydantic import BaseModel, Field

from blocks import (
    AWS_BLOCK,
    GITHUB_BLOCK,
    KAFKA_BLOCK,
    AwsAccount,
    GitHubOrganization,
    KafkaCluster,
    load_block,
)
from tasks.aws.compute import (
    delete_ecr_repository,
    delete_log_group,
    delete_service,
    deregister_task_definitions,
)
from tasks.aws.iam import delete_deploy_role
from tasks.aws.storage import delete_bucket, delete_queue, delete_table
from tasks.github import delete_environment
from tasks.github_lifecycle import archive_repository
from tasks.kafka import delete_topic

__all__ = ["REMOVAL_ORDER", "Providers", "RemovableResource", "removal_order", "remove"]

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


def removal_order(resources: Iterable[RemovableResource]) -> list[RemovableResource]:
    """The resources Paved removes, ordered; a queue goes before its dead-letter queue."""
    rank = {kind: position for position, kind in enumerate(REMOVAL_ORDER)}
    removable = [resource for resource in resources if resource.kind in rank]
    return sorted(removable, key=lambda r: (rank[r.kind], r.name.endswith("-dlq"), r.name))


def _split(name: str) -> tuple[str, str]:
    """`acme/orders:production` -> (`acme/orders`, `production`)."""
    repository, _, rest = name.partition(":")
    return repository, rest


class Providers:
    """The provider blocks, each loaded once, on first use."""

    @cached_property
    def aws(self) -> AwsAccount:
        return load_block(AwsAccount, AWS_BLOCK)

    @cached_property
    def github(self) -> GitHubOrganization:
        return load_block(GitHubOrganization, GITHUB_BLOCK)

    @cached_property
    def kafka(self) -> KafkaCluster:
        return load_block(KafkaCluster, KAFKA_BLOCK)


def remove(resource: RemovableResource, providers: Providers) -> bool:
    """Remove one resource; True when something was removed, False when it was gone."""
    name, kind = resource.name, resource.kind
    if kind == "ecs_service":
        return delete_service(providers.aws, cluster=providers.aws.ecs_cluster, name=name)
    if kind == "ecs_task_definition":
        return bool(deregister_task_definitions(providers.aws, family=name))
    if kind == "cloudwatch_log_group":
        return delete_log_group(providers.aws, name=name)
    if kind == "iam_role":
        return delete_deploy_role(providers.aws, name=name)
    if kind == "github_environment":
        repository, environment = _split(name)
        return delete_environment(providers.github, full_name=repository, name=environment)
    if kind == "github_workflow":
        return False  # workflow files live in the repository, archived with it
    if kind == "ecr_repository":
        return delete_ecr_repository(providers.aws, name=name)
    if kind == "sqs_queue":
        return delete_queue(providers.aws, name=name)
    if kind == "dynamodb_table":
        return delete_table(providers.aws, name=name)
    if kind == "s3_bucket":
        return delete_bucket(providers.aws, name=name)
    if kind == "kafka_topic":
        return delete_topic(providers.kafka, name=name)
    if kind == "github_repository":
        return archive_repository(providers.github, full_name=name)
    raise ValueError(f"Paved does not remove resources of kind {kind!r}")
