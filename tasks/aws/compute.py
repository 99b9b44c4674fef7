"""AWS compute tasks: ECR repositories, the shared ECS cluster, log groups, Fargate task
definitions and services, and the subnets services run in.

Each `ensure_*` task is an idempotent get-or-create returning the provider id and what it
changed (empty when all was in place); tags are merged, never replaced. A task definition
gets a new revision only when the latest ACTIVE one differs from the declared one, so a
re-run registers nothing. Each delete task treats "not found" as done.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from prefect import task
from pydantic import BaseModel, Field

from tasks.aws import (
    NOT_FOUND_CODES,
    AwsResourceInfo,
    aws_errors,
    delete_unless_gone,
    error_code,
    missing_tags,
    refuse_unless_ours,
    tag_list,
    task_logger,
)
from tasks.errors import PermanentProviderError
from tasks.retries import PROVIDER_TASK_OPTIONS

if TYPE_CHECKING:
    from blocks.aws import AwsAccount

__all__ = [
    "CONTAINER_NAME",
    "ClusterInfo",
    "LogGroupInfo",
    "RepositoryInfo",
    "ServiceInfo",
    "TaskDefinitionInfo",
    "default_security_groups",
    "default_subnets",
    "delete_ecr_repository",
    "delete_log_group",
    "delete_service",
    "deregister_task_definitions",
    "ensure_cluster",
    "ensure_ecr_repository",
    "ensure_log_group",
    "ensure_service",
    "ensure_task_definition",
]

# The one container of a golden-path task; the service's load balancer targets it by name.
CONTAINER_NAME = "app"
# ECS answers these when the service is gone or going: a delete is then done.
_SERVICE_GONE_CODES = NOT_FOUND_CODES | {"ServiceNotActiveException"}


class RepositoryInfo(AwsResourceInfo):
    """An ECR repository."""

    uri: str = Field(description="repositoryUri, what `docker push` takes.")


class ClusterInfo(BaseModel):
    """The shared ECS cluster."""

    name: str = Field(description="Cluster name.")
    arn: str = Field(description="Cluster ARN.")
    created: bool = Field(description="True when this call created it.")


class LogGroupInfo(AwsResourceInfo):
    """A CloudWatch Logs log group."""

    arn: str = Field(description="Log group ARN (without the trailing ':*').")


class TaskDefinitionInfo(BaseModel):
    """The revision of a task definition family that matches the declaration."""

    family: str = Field(description="Task definition family.")
    arn: str = Field(description="ARN of the revision.")
    revision: int = Field(description="Revision number.")
    created: bool = Field(description="True when this call registered the revision.")
    changes: list[str] = Field(description="What this call changed; empty when all was in place.")


class ServiceInfo(BaseModel):
    """An ECS service."""

    name: str = Field(description="Service name.")
    arn: str = Field(description="Service ARN.")
    cluster: str = Field(description="Cluster it runs in.")
    created: bool = Field(description="True when this call created it.")
    changes: list[str] = Field(description="What this call changed; empty when all was in place.")


def _ecs_tags(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """Tags as ECS wants them: lower-case `key` and `value`."""
    return [{"key": key, "value": value} for key, value in sorted(tags.items())]


def _ecs_tags_of(ecs: Any, arn: str) -> dict[str, str]:
    return {
        t["key"]: t["value"] for t in ecs.list_tags_for_resource(resourceArn=arn).get("tags", [])
    }


def _ecs_tag_missing(ecs: Any, arn: str, tags: Mapping[str, str]) -> bool:
    """Add the tags `arn` lacks; True when it added any."""
    missing = missing_tags(_ecs_tags_of(ecs, arn), tags)
    if missing:
        ecs.tag_resource(resourceArn=arn, tags=_ecs_tags(missing))
    return bool(missing)


# --- ECR ----------------------------------------------------------------------------


@task(name="aws: ensure ECR repository", **PROVIDER_TASK_OPTIONS)
def ensure_ecr_repository(
    account: AwsAccount, *, name: str, tags: Mapping[str, str]
) -> RepositoryInfo:
    """Get or create the repository `name`: images scanned on push, tags immutable, tagged."""
    changes: list[str] = []
    with aws_errors("ensure ECR repository", name):
        ecr = account.get_client("ecr")
        try:
            repo = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
            created = False
            found = ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"]).get("tags", [])
            refuse_unless_ours(
                kind="ECR repository",
                name=name,
                current={t["Key"]: t["Value"] for t in found},
                tags=tags,
            )
        except ClientError as exc:
            if error_code(exc) not in NOT_FOUND_CODES:
                raise
            repo = ecr.create_repository(
                repositoryName=name,
                imageTagMutability="IMMUTABLE",
                imageScanningConfiguration={"scanOnPush": True},
                tags=tag_list(tags),
            )["repository"]
            created = True
            changes.append(f"created ECR repository {name}")
        if repo.get("imageTagMutability") != "IMMUTABLE":
            ecr.put_image_tag_mutability(repositoryName=name, imageTagMutability="IMMUTABLE")
            changes.append(f"made image tags of {name} immutable")
        if not repo.get("imageScanningConfiguration", {}).get("scanOnPush"):
            ecr.put_image_scanning_configuration(
                repositoryName=name, imageScanningConfiguration={"scanOnPush": True}
            )
            changes.append(f"turned on scan on push for {name}")
        arn = str(repo["repositoryArn"])
        current = ecr.list_tags_for_resource(resourceArn=arn).get("tags", [])
        missing = missing_tags({t["Key"]: t["Value"] for t in current}, tags)
        if missing:
            ecr.tag_resource(resourceArn=arn, tags=tag_list(missing))
            changes.append(f"tagged ECR repository {name}")
    task_logger().info("ECR repository %s: %s", name, "; ".join(changes) or "in place")
    return RepositoryInfo(
        name=name, arn=arn, uri=str(repo["repositoryUri"]), created=created, changes=changes
    )


@task(name="aws: delete ECR repository", **PROVIDER_TASK_OPTIONS)
def delete_ecr_repository(account: AwsAccount, *, name: str) -> bool:
    """Delete the repository `name` with its images; False when there was none."""
    ecr = account.get_client("ecr")
    return delete_unless_gone(
        "delete ECR repository",
        name,
        lambda: ecr.delete_repository(repositoryName=name, force=True),
    )


# --- ECS cluster --------------------------------------------------------------------


@task(name="aws: ensure cluster", **PROVIDER_TASK_OPTIONS)
def ensure_cluster(account: AwsAccount) -> ClusterInfo:
    """Get or create the shared cluster `account.ecs_cluster`."""
    name = account.ecs_cluster
    with aws_errors("ensure ECS cluster", name):
        ecs = account.get_client("ecs")
        clusters = ecs.describe_clusters(clusters=[name]).get("clusters", [])
        active = [c for c in clusters if c.get("status") == "ACTIVE"]
        if active:
            return ClusterInfo(name=name, arn=active[0]["clusterArn"], created=False)
        cluster = ecs.create_cluster(clusterName=name)["cluster"]
    task_logger().info("Created ECS cluster %s", name)
    return ClusterInfo(name=name, arn=cluster["clusterArn"], created=True)


# --- CloudWatch Logs ----------------------------------------------------------------


def _find_log_group(logs: Any, name: str) -> dict[str, Any] | None:
    pages = logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=name)
    for page in pages:
        for group in page.get("logGroups", []):
            if group["logGroupName"] == name:
                found: dict[str, Any] = group
                return found
    return None


def _log_group_arn(group: Mapping[str, Any]) -> str:
    # `arn` ends with ':*' (it names the streams); tagging wants the group's own ARN.
    return str(group.get("logGroupArn") or str(group["arn"]).removesuffix(":*"))


@task(name="aws: ensure log group", **PROVIDER_TASK_OPTIONS)
def ensure_log_group(
    account: AwsAccount, *, name: str, retention_days: int, tags: Mapping[str, str]
) -> LogGroupInfo:
    """Get or create the log group `name` keeping events `retention_days` days, tagged."""
    changes: list[str] = []
    with aws_errors("ensure log group", name):
        logs = account.get_client("logs")
        group = _find_log_group(logs, name)
        created = group is None
        if group is not None:
            found = logs.list_tags_for_resource(resourceArn=_log_group_arn(group)).get("tags", {})
            refuse_unless_ours(kind="log group", name=name, current=found, tags=tags)
        if group is None:
            logs.create_log_group(logGroupName=name, tags=dict(tags))
            changes.append(f"created log group {name}")
            group = _find_log_group(logs, name)
            if group is None:
                raise PermanentProviderError(
                    provider="aws",
                    operation="ensure log group",
                    resource=name,
                    cause="the log group is missing right after its creation",
                )
        if group.get("retentionInDays") != retention_days:
            logs.put_retention_policy(logGroupName=name, retentionInDays=retention_days)
            changes.append(f"set retention of {name} to {retention_days} days")
        arn = _log_group_arn(group)
        current = logs.list_tags_for_resource(resourceArn=arn).get("tags", {})
        missing = missing_tags(current, tags)
        if missing:
            logs.tag_resource(resourceArn=arn, tags=missing)
            changes.append(f"tagged log group {name}")
    task_logger().info("Log group %s: %s", name, "; ".join(changes) or "in place")
    return LogGroupInfo(name=name, arn=arn, created=created, changes=changes)


@task(name="aws: delete log group", **PROVIDER_TASK_OPTIONS)
def delete_log_group(account: AwsAccount, *, name: str) -> bool:
    """Delete the log group `name`; False when there was none."""
    logs = account.get_client("logs")
    return delete_unless_gone(
        "delete log group", name, lambda: logs.delete_log_group(logGroupName=name)
    )


# --- ECS task definitions -----------------------------------------------------------


def _declared_container(
    *, image: str, container_port: int, log_group: str, region: str, family: str
) -> dict[str, Any]:
    return {
        "name": CONTAINER_NAME,
        "image": image,
        "essential": True,
        "portMappings": [{"containerPort": container_port, "protocol": "tcp"}],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": log_group,
                "awslogs-region": region,
                "awslogs-stream-prefix": family,
            },
        },
    }


def _latest_active(ecs: Any, family: str) -> dict[str, Any] | None:
    """The latest ACTIVE revision of `family`, or None when it has none."""
    try:
        found: dict[str, Any] = ecs.describe_task_definition(
            taskDefinition=family, include=["TAGS"]
        )
    except ClientError as exc:
        # ECS answers a generic ClientException for a family without ACTIVE revisions.
        if error_code(exc) in NOT_FOUND_CODES | {"ClientException"}:
            return None
        raise
    return found


def _matches(current: Mapping[str, Any], declared: Mapping[str, Any]) -> bool:
    """Whether the registered revision is the declared one (only the fields Paved sets)."""
    if current.get("status") != "ACTIVE":
        return False
    for key in ("cpu", "memory", "networkMode", "executionRoleArn"):
        if current.get(key) != declared.get(key):
            return False
    if sorted(current.get("requiresCompatibilities", [])) != ["FARGATE"]:
        return False
    containers = current.get("containerDefinitions", [])
    if len(containers) != 1:
        return False
    have, want = containers[0], declared["containerDefinitions"][0]
    ports = [
        (p.get("containerPort"), p.get("protocol", "tcp")) for p in have.get("portMappings", [])
    ]
    return (
        have.get("name") == want["name"]
        and have.get("image") == want["image"]
        and have.get("essential", True) is True
        and ports == [(want["portMappings"][0]["containerPort"], "tcp")]
        and have.get("logConfiguration") == want["logConfiguration"]
    )


@task(name="aws: ensure task definition", **PROVIDER_TASK_OPTIONS)
def ensure_task_definition(
    account: AwsAccount,
    *,
    family: str,
    image: str,
    cpu: int,
    memory: int,
    container_port: int,
    log_group: str,
    region: str,
    tags: Mapping[str, str],
    execution_role_arn: str | None = None,
) -> TaskDefinitionInfo:
    """The Fargate (awsvpc, awslogs) revision of `family` running `image`: the latest
    ACTIVE one when it is the declared one, else a newly registered revision.

    Real Fargate needs `execution_role_arn` to pull from ECR and write awslogs.
    """
    changes: list[str] = []
    declared: dict[str, Any] = {
        "family": family,
        "cpu": str(cpu),
        "memory": str(memory),
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "containerDefinitions": [
            _declared_container(
                image=image,
                container_port=container_port,
                log_group=log_group,
                region=region,
                family=family,
            )
        ],
    }
    if execution_role_arn:
        declared["executionRoleArn"] = execution_role_arn
    with aws_errors("ensure task definition", family):
        ecs = account.get_client("ecs")
        latest = _latest_active(ecs, family)
        if latest is not None:
            # A family holding another's revisions is theirs: no revision is added to it.
            refuse_unless_ours(
                kind="task definition family",
                name=family,
                current={t["key"]: t["value"] for t in latest.get("tags", [])},
                tags=tags,
            )
        if latest is not None and _matches(latest["taskDefinition"], declared):
            definition = latest["taskDefinition"]
            created = False
            arn = str(definition["taskDefinitionArn"])
            current_tags = {t["key"]: t["value"] for t in latest.get("tags", [])}
            missing = missing_tags(current_tags, tags)
            if missing:
                ecs.tag_resource(resourceArn=arn, tags=_ecs_tags(missing))
                changes.append(f"tagged task definition {family}:{definition['revision']}")
        else:
            definition = ecs.register_task_definition(**declared, tags=_ecs_tags(tags))[
                "taskDefinition"
            ]
            created = True
            arn = str(definition["taskDefinitionArn"])
            changes.append(f"registered task definition {family}:{definition['revision']}")
    task_logger().info("Task definition %s: %s", family, "; ".join(changes) or "in place")
    return TaskDefinitionInfo(
        family=family,
        arn=arn,
        revision=int(definition["revision"]),
        created=created,
        changes=changes,
    )


@task(name="aws: deregister task definitions", **PROVIDER_TASK_OPTIONS)
def deregister_task_definitions(account: AwsAccount, *, family: str) -> list[str]:
    """Deregister every ACTIVE revision of `family`; returns their ARNs (none: empty)."""
    deregistered: list[str] = []
    with aws_errors("deregister task definitions", family):
        ecs = account.get_client("ecs")
        pages = ecs.get_paginator("list_task_definitions").paginate(
            familyPrefix=family, status="ACTIVE"
        )
        for page in pages:
            for arn in page.get("taskDefinitionArns", []):
                # familyPrefix is a prefix: `orders-app` also lists `orders-app2`.
                if arn.rsplit("/", 1)[-1].rsplit(":", 1)[0] != family:
                    continue
                ecs.deregister_task_definition(taskDefinition=arn)
                deregistered.append(arn)
    task_logger().info("Deregistered %d revisions of %s", len(deregistered), family)
    return deregistered


# --- ECS services -------------------------------------------------------------------


def _network(subnets: list[str], security_groups: list[str]) -> dict[str, Any]:
    return {
        "awsvpcConfiguration": {
            "subnets": list(subnets),
            "securityGroups": list(security_groups),
            "assignPublicIp": "DISABLED",
        }
    }


def _network_matches(current: Mapping[str, Any], declared: Mapping[str, Any]) -> bool:
    have = current.get("awsvpcConfiguration", {})
    want = declared["awsvpcConfiguration"]
    if sorted(have.get("subnets", [])) != sorted(want["subnets"]):
        return False
    if have.get("assignPublicIp", "DISABLED") != want["assignPublicIp"]:
        return False
    return sorted(have.get("securityGroups", [])) == sorted(want["securityGroups"])


def _active_service(ecs: Any, cluster: str, name: str) -> dict[str, Any] | None:
    services = ecs.describe_services(cluster=cluster, services=[name]).get("services", [])
    # A deleted service lingers as DRAINING or INACTIVE; it can be created again.
    active = [s for s in services if s.get("status") == "ACTIVE"]
    return active[0] if active else None


@task(name="aws: ensure service", **PROVIDER_TASK_OPTIONS)
def ensure_service(
    account: AwsAccount,
    *,
    cluster: str,
    name: str,
    task_definition_arn: str,
    desired_count: int,
    subnets: list[str],
    security_groups: list[str],
    tags: Mapping[str, str],
) -> ServiceInfo:
    """Get or create the Fargate service `name` in `cluster` (private: no public IP),
    updated when its task definition, desired count or network differ; tagged.

    `security_groups` is explicit (see `default_security_groups`) so that drift in them
    is seen and a service never silently runs with another group.
    """
    changes: list[str] = []
    network = _network(subnets, security_groups)
    with aws_errors("ensure ECS service", name):
        ecs = account.get_client("ecs")
        service = _active_service(ecs, cluster, name)
        created = service is None
        if service is not None:
            refuse_unless_ours(
                kind="ECS service",
                name=name,
                current=_ecs_tags_of(ecs, str(service["serviceArn"])),
                tags=tags,
            )
        if service is None:
            service = ecs.create_service(
                cluster=cluster,
                serviceName=name,
                taskDefinition=task_definition_arn,
                desiredCount=desired_count,
                launchType="FARGATE",
                networkConfiguration=network,
                tags=_ecs_tags(tags),
                propagateTags="SERVICE",
                enableECSManagedTags=True,
            )["service"]
            changes.append(f"created ECS service {name} in {cluster}")
        else:
            update: dict[str, Any] = {}
            if service.get("taskDefinition") != task_definition_arn:
                update["taskDefinition"] = task_definition_arn
            if service.get("desiredCount") != desired_count:
                update["desiredCount"] = desired_count
            if not _network_matches(service.get("networkConfiguration", {}), network):
                update["networkConfiguration"] = network
            if update:
                service = ecs.update_service(cluster=cluster, service=name, **update)["service"]
                changes.append(f"updated {', '.join(sorted(update))} of ECS service {name}")
        arn = str(service["serviceArn"])
        if _ecs_tag_missing(ecs, arn, tags):
            changes.append(f"tagged ECS service {name}")
    task_logger().info("ECS service %s: %s", name, "; ".join(changes) or "in place")
    return ServiceInfo(name=name, arn=arn, cluster=cluster, created=created, changes=changes)


@task(name="aws: delete service", **PROVIDER_TASK_OPTIONS)
def delete_service(account: AwsAccount, *, cluster: str, name: str) -> bool:
    """Scale the service `name` to 0 and delete it; False when there was none."""
    with aws_errors("delete ECS service", name):
        ecs = account.get_client("ecs")
        try:
            if _active_service(ecs, cluster, name) is None:
                return False
            ecs.update_service(cluster=cluster, service=name, desiredCount=0)
            ecs.delete_service(cluster=cluster, service=name, force=True)
        except ClientError as exc:
            if error_code(exc) in _SERVICE_GONE_CODES:
                return False
            raise
    task_logger().info("Deleted ECS service %s from %s", name, cluster)
    return True


# --- networking ---------------------------------------------------------------------


@task(name="aws: find subnets", **PROVIDER_TASK_OPTIONS)
def default_subnets(account: AwsAccount) -> list[str]:
    """The subnets services run in: the account's `subnets`, else the default VPC's."""
    if account.subnets:
        return list(account.subnets)
    with aws_errors("find default subnets", f"region {account.region}"):
        ec2 = account.get_client("ec2")
        vpcs = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
        if not vpcs:
            raise PermanentProviderError(
                provider="aws",
                operation="find default subnets",
                resource=f"region {account.region}",
                cause="no default VPC: set `subnets` on the AWS account block",
            )
        subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpcs[0]["VpcId"]]}])[
            "Subnets"
        ]
    return sorted(str(subnet["SubnetId"]) for subnet in subnets)


@task(name="aws: find security groups", **PROVIDER_TASK_OPTIONS)
def default_security_groups(account: AwsAccount, *, subnets: list[str]) -> list[str]:
    """The security groups services run with: the account's `security_groups`, else the
    default group of the VPC that `subnets` belong to."""
    if account.security_groups:
        return list(account.security_groups)
    with aws_errors("find default security group", ", ".join(subnets)):
        ec2 = account.get_client("ec2")
        found = ec2.describe_subnets(SubnetIds=list(subnets))["Subnets"]
        vpcs = sorted({str(subnet["VpcId"]) for subnet in found})
        if len(vpcs) != 1:
            raise PermanentProviderError(
                provider="aws",
                operation="find default security group",
                resource=", ".join(subnets),
                cause=f"the subnets must be in one VPC, they are in {vpcs or 'none'}",
            )
        groups = ec2.describe_security_groups(
            Filters=[
                {"Name": "vpc-id", "Values": vpcs},
                {"Name": "group-name", "Values": ["default"]},
            ]
        )["SecurityGroups"]
    return [str(group["GroupId"]) for group in groups]
