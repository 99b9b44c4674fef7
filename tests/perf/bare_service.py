"""The baseline of `bench_service_create`: the provider calls `service:create` makes,
made by a bare script, one after another.

No Prefect (each task's plain function, `.fn`, is called: no task run, no server), no
registry, no claim, no journal. The calls are Paved's own: the same reads before any
write (is the repository someone else's, the account id, are the topics someone
else's), then, in the order of the union plan's waves, the body of each resource's
ensure task with the arguments Paved's ensurer gives it (rendered workflows included).
What differs is only what orchestration adds, which is what the bench measures.

A bench helper, not a test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import blocks.aws as aws_block
from blocks import (
    GitHubOrganization,
)
from flows.actions.github_pipeline_create import (
    DEPLOY_ENVIRONMENT,
    DEPLOY_SETTINGS,
    OIDC_PROVIDER_KIND,
    ROLE_KIND,
    render_workflow,
)
from flows.actions.github_repo_create import codeowners_file
from flows.actions.kafka_topics_create import topic_spec
from flows.actions.service_create import ServiceCreateRequest, service_plan
from flows.engine.context import ServiceContext
from flows.engine.plan import PlannedResource
from flows.engine.providers import Providers
from registry import policy
from tasks.aws import compute, iam, storage
from tasks.aws.policy_documents import github_oidc_trust_policy
from tasks.github import (
    BranchProtection,
    EnvironmentSpec,
    ensure_branch_protection,
    ensure_environment,
    ensure_file,
    ensure_repository_from_template,
    ensure_team_permission,
    ensure_topics,
    find_repository,
)
from tasks.kafka import describe_topic, ensure_topic

__all__ = ["bare_service", "make_shared_resources"]

TEAM, OWNER, COST_CENTER, REQUESTER = "payments", "carol", "cc-200", "dave"


def make_shared_resources(providers: Providers) -> None:
    """What every service shares (the ECS cluster, the GitHub OIDC provider), made
    before either side is timed so neither pays for it."""
    compute.ensure_cluster.fn(providers.aws)
    iam.ensure_github_oidc_provider.fn(providers.aws)


def bare_service(providers: Providers, name: str, *, cold: bool = False) -> None:
    """Make the service `name` as service:create does, with no orchestration.

    `cold`: start as a new script would, with no AWS client built yet (each Paved run is a
    new process that builds its own); a burst's script reuses its clients, as Paved's
    runs do not, so a burst's baseline is the bare script at its best."""
    if cold:
        aws_block.forget_clients()
    github, aws, kafka = providers.github, providers.aws, providers.kafka
    request = ServiceCreateRequest(
        name=name,
        team=TEAM,
        owner=OWNER,
        requester=REQUESTER,
        storage=["bucket", "queue", "table"],
    )
    context = ServiceContext(
        service=name,
        team=TEAM,
        owner=OWNER,
        cost_center=COST_CENTER,
        change_approver=OWNER,
        oncall=OWNER,
        tags=policy.policy_tags(service=name, team=TEAM, owner=OWNER, cost_center=COST_CENTER),
    )
    # The reads service:create makes before any write.
    find_repository.fn(github, name=name)
    account_id = iam.get_account_id.fn(aws)
    plan, _ = service_plan(
        request,
        context,
        providers,
        account_id=account_id,
        region=aws.region,
        seen_topics={},
    )
    topics = [item for item in plan.resources if item.ref.kind == "kafka_topic"]
    for item in topics:
        describe_topic.fn(kafka, name=item.ref.name)

    made: dict[str, Any] = {}
    network: dict[str, Any] = {}
    for wave in plan.waves():
        for item in wave:
            made[item.key] = _make(item, made, network, providers, context.tags)


def _upstream(item: PlannedResource, made: dict[str, Any], kind: str) -> Any:
    return next(made[key] for key in item.depends_on if key.startswith(f"{kind}:"))


def _make(
    item: PlannedResource,
    made: dict[str, Any],
    network: dict[str, Any],
    providers: Providers,
    tags: dict[str, str],
) -> Any:
    """The body of `item`'s ensure task, with the arguments Paved's ensurer passes."""
    github, aws, kafka = providers.github, providers.aws, providers.kafka
    spec, kind = item.spec, item.ref.kind
    if kind == "github_repository":
        return _repository(github, item)
    if kind in {"ecr_repository", "cloudwatch_log_group", "ecs_service"} and not network:
        network["cluster"] = compute.ensure_cluster.fn(aws)
        network["subnets"] = compute.default_subnets.fn(aws)
        network["groups"] = compute.default_security_groups.fn(aws, subnets=network["subnets"])
    if kind == "ecr_repository":
        return compute.ensure_ecr_repository.fn(aws, name=item.ref.name, tags=tags)
    if kind == "cloudwatch_log_group":
        return compute.ensure_log_group.fn(
            aws, name=item.ref.name, retention_days=spec["retention_days"], tags=tags
        )
    if kind == "ecs_task_definition":
        image = f"{_upstream(item, made, 'ecr_repository').uri}:{spec['image_tag']}"
        return compute.ensure_task_definition.fn(
            aws,
            family=item.ref.name,
            image=image,
            cpu=spec["cpu"],
            memory=spec["memory"],
            container_port=spec["container_port"],
            log_group=spec["log_group"],
            region=aws.region,
            tags=tags,
        )
    if kind == "ecs_service":
        return compute.ensure_service.fn(
            aws,
            cluster=network["cluster"].name,
            name=item.ref.name,
            task_definition_arn=_upstream(item, made, "ecs_task_definition").arn,
            desired_count=spec["desired_count"],
            subnets=network["subnets"],
            security_groups=network["groups"],
            tags=tags,
        )
    if kind == OIDC_PROVIDER_KIND:
        return iam.ensure_github_oidc_provider.fn(aws)
    if kind == ROLE_KIND:
        provider_arn = _upstream(item, made, OIDC_PROVIDER_KIND)
        return iam.ensure_deploy_role.fn(
            aws,
            name=item.ref.name,
            trust_policy=github_oidc_trust_policy(
                provider_arn=provider_arn,
                repository=spec["repository"],
                environment=DEPLOY_ENVIRONMENT,
            ),
            permissions_policy=next(iter(spec["inline_policies"].values())),
            tags=tags,
        )
    if kind == "github_environment":
        repo = _upstream(item, made, "github_repository")
        return ensure_environment.fn(github, full_name=repo.full_name, spec=EnvironmentSpec(**spec))
    if kind == "github_workflow":
        repo = _upstream(item, made, "github_repository")
        path, branch = spec["path"], repo.default_branch
        workflow = path.rsplit("/", 1)[-1]
        values = {"service": item.ref.service, "default_branch": branch}
        values |= {key: spec[key] for key in DEPLOY_SETTINGS if key in spec}
        roles = [key for key in item.depends_on if key.startswith(f"{ROLE_KIND}:")]
        if roles:
            values["deploy_role_arn"] = made[roles[0]].arn
        return ensure_file.fn(
            github,
            full_name=repo.full_name,
            path=path,
            content=render_workflow(workflow, values),
            branch=branch,
            message=f"Paved: {workflow} workflow for {item.ref.service}",
        )
    if kind == "s3_bucket":
        return storage.ensure_bucket.fn(
            aws,
            name=item.ref.name,
            tags=tags,
            versioning=spec["versioning"],
            encryption=spec["encryption"],
        )
    if kind == "sqs_queue":
        dead_letter: dict[str, Any] = {}
        if item.depends_on:
            dead_letter = {
                "dead_letter_arn": made[item.depends_on[0]].arn,
                "max_receive_count": spec["max_receive_count"],
                "visibility_timeout": spec["visibility_timeout_seconds"],
            }
        return storage.ensure_queue.fn(
            aws,
            name=item.ref.name,
            tags=tags,
            message_retention_seconds=spec["message_retention_days"] * 86400,
            **dead_letter,
        )
    if kind == "dynamodb_table":
        return storage.ensure_table.fn(
            aws,
            name=item.ref.name,
            partition_key=spec["partition_key"],
            sort_key=spec["sort_key"],
            tags=tags,
        )
    if kind == "kafka_topic":
        return ensure_topic.fn(kafka, spec=topic_spec(item), update=False)
    raise ValueError(f"the bare script does not know how to make a {kind}")


@dataclass(frozen=True)
class _Repo:
    full_name: str
    default_branch: str


def _repository(github: GitHubOrganization, item: PlannedResource) -> _Repo:
    """The body of the repository's ensure task, step by step (each step's `.fn`)."""
    spec, full_name = item.spec, item.ref.name
    name = full_name.split("/", 1)[1]
    ((team, permission),) = spec["team_permission"].items()
    repo = ensure_repository_from_template.fn(
        github,
        name=name,
        description="",
        private=spec["private"],
        template=spec["template"].split("/", 1)[1],
    )
    ensure_topics.fn(github, full_name=full_name, topics=list(spec["topics"]))
    ensure_file.fn(
        github,
        full_name=full_name,
        path="CODEOWNERS",
        content=codeowners_file(github.organization, team),
        branch=repo.default_branch,
        message=f"Paved: {team} owns {name}",
    )
    ensure_branch_protection.fn(
        github,
        full_name=full_name,
        branch=repo.default_branch,
        protection=BranchProtection(**spec["branch_protection"]),
    )
    ensure_team_permission.fn(github, team=team, full_name=full_name, permission=permission)
    return _Repo(full_name=repo.full_name, default_branch=repo.default_branch)
