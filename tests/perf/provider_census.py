"""Count what a burst made, the hard way: ask each provider with its own client.

Every kind Paved makes for a service is listed where it lives (PyGithub, boto3,
confluent-kafka), keyed by what makes two of them "the same thing". A key counted twice
is a duplicate: a repository made twice, a workflow file committed twice, a second task
definition revision, a second queue... Where a provider refuses a second thing of one
name (a repository, a bucket), the count is still taken, so a fake that stopped refusing
would show it.

Used by `bench_service_create`; a script helper, not a test.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from blocks import AwsAccount, GitHubOrganization, KafkaCluster
from flows.engine.providers import Providers

__all__ = ["Census", "census"]

WORKFLOW_PATHS = (".github/workflows/ci.yml", ".github/workflows/deploy.yml")


class Census(Counter[tuple[str, str]]):
    """How many of each (kind, key) the providers hold."""

    @property
    def duplicates(self) -> int:
        """Things that exist once too often, summed."""
        return sum(n - 1 for n in self.values() if n > 1)

    def by_kind(self) -> dict[str, int]:
        """How many things of each kind were found."""
        kinds: Counter[str] = Counter()
        for (kind, _), n in self.items():
            kinds[kind] += n
        return dict(sorted(kinds.items()))

    def duplicated(self) -> list[str]:
        """The keys found more than once, as `kind key xN`."""
        return [f"{kind} {key} x{n}" for (kind, key), n in sorted(self.items()) if n > 1]


def census(names: list[str], providers: Providers, *, team: str) -> Census:
    """Everything the providers hold for the services `names` of `team`."""
    found = Census()
    wanted = {name.lower() for name in names}
    _github(found, providers.github, wanted)
    _aws(found, providers.aws, team=team, wanted=wanted)
    _kafka(found, providers.kafka, team=team, wanted=wanted)
    return found


def _github(found: Census, github: GitHubOrganization, wanted: set[str]) -> None:
    organization = github.get_client().get_organization(github.organization)
    for repository in organization.get_repos():
        name = repository.name.lower()
        if name not in wanted:
            continue
        found[("github repository", name)] += 1
        for environment in repository.get_environments():
            found[("github environment", f"{name}:{environment.name}")] += 1
        for path in WORKFLOW_PATHS:
            # One commit per workflow file: a second is the file written twice.
            for _ in repository.get_commits(path=path):
                found[("workflow commit", f"{name}:{path}")] += 1


def _aws_names(team: str, wanted: set[str], name: str) -> bool:
    return any(name.startswith(f"{team}-{service}-") for service in wanted)


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> Iterator[Any]:
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page[key]


def _aws(found: Census, aws: AwsAccount, *, team: str, wanted: set[str]) -> None:
    def ours(name: str) -> bool:
        return _aws_names(team, wanted, name)

    ecr = aws.get_client("ecr")
    for repository in _pages(ecr, "describe_repositories", "repositories"):
        if ours(repository["repositoryName"]):
            found[("ecr repository", repository["repositoryName"])] += 1
    ecs = aws.get_client("ecs")
    # No familyPrefix: despite its name, ECS takes it as a whole family name (moto too).
    for arn in _pages(ecs, "list_task_definitions", "taskDefinitionArns"):
        family = arn.rsplit("/", 1)[-1].rsplit(":", 1)[0]
        if ours(family):  # each revision counts: a second one is a duplicate
            found[("task definition revision", family)] += 1
    for cluster in _pages(ecs, "list_clusters", "clusterArns"):
        for arn in _pages(ecs, "list_services", "serviceArns", cluster=cluster):
            service = arn.rsplit("/", 1)[-1]
            if ours(service):
                found[("ecs service", service)] += 1
    logs = aws.get_client("logs")
    for group in _pages(
        logs, "describe_log_groups", "logGroups", logGroupNamePrefix=f"/paved/{team}/"
    ):
        if group["logGroupName"].rsplit("/", 1)[-1] in wanted:
            found[("log group", group["logGroupName"])] += 1
    iam = aws.get_client("iam")
    for role in _pages(iam, "list_roles", "Roles"):
        if ours(role["RoleName"]):
            found[("iam role", role["RoleName"])] += 1
            for policy in _pages(
                iam, "list_role_policies", "PolicyNames", RoleName=role["RoleName"]
            ):
                found[("iam inline policy", f"{role['RoleName']}:{policy}")] += 1
    for bucket in aws.get_client("s3").list_buckets()["Buckets"]:
        if ours(bucket["Name"]):
            found[("s3 bucket", bucket["Name"])] += 1
    for url in _pages(aws.get_client("sqs"), "list_queues", "QueueUrls", QueueNamePrefix=team):
        if ours(url.rsplit("/", 1)[-1]):
            found[("sqs queue", url.rsplit("/", 1)[-1])] += 1
    for table in _pages(aws.get_client("dynamodb"), "list_tables", "TableNames"):
        if ours(table):
            found[("dynamodb table", table)] += 1


def _kafka(found: Census, kafka: KafkaCluster, *, team: str, wanted: set[str]) -> None:
    topics = kafka.get_admin_client().list_topics(timeout=30).topics
    for topic in topics:
        parts = topic.split(".")
        if len(parts) == 3 and parts[0] == team and parts[1] in wanted:
            found[("kafka topic", topic)] += 1
