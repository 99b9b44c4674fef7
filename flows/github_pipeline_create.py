"""`github:pipeline:create` — CI/CD for a service's repository, deploying through OIDC.

The run: validate (the service, its repository, the region, the reviewers, both IAM
documents) -> write ahead (deploy role, environments, workflows as `provisioning`) ->
AWS (the account's GitHub OIDC provider, the service's deploy role trusted only by the
repository's `production` environment and allowed only its ECR repository and ECS
service) -> GitHub (environments `staging` and `production`, the latter approved by the
owning team, then `.github/workflows/ci.yml` and `deploy.yml`) -> each resource `active`
with its provider id as soon as it exists -> a markdown artifact.

Environments come before the workflows: GitHub creates an environment a workflow names
on its first run, unprotected, and a push of `deploy.yml` would start one.

The OIDC provider is shared by every service of the account, so the registry holds it
with no service (the platform's) and each service records a dependency on it.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, Field, field_validator

from blocks import AWS_BLOCK, GITHUB_BLOCK, AwsAccount, GitHubOrganization, load_block
from flows.action_request import PavedRequest
from flows.registry_steps import (
    ResourceRef,
    ServiceContext,
    load_service_context,
    record_active,
    record_failure,
    write_ahead,
)
from flows.runtime import journaled, owning_team, registry_session, service_run_name
from registry import policy, queries
from registry.errors import Conflict, NotFound, PolicyViolation
from registry.models import Provider, ResourceStatus
from tasks.aws.iam import (
    DEPLOY_POLICY_NAME,
    ensure_deploy_role,
    ensure_github_oidc_provider,
    get_account_id,
)
from tasks.aws.policy_documents import (
    GITHUB_OIDC_HOST,
    deploy_permissions_policy,
    github_oidc_trust_policy,
)
from tasks.github import EnvironmentSpec, RepositoryInfo, ensure_environment, ensure_file
from tasks.github import find_repository as find_github_repository

__all__ = [
    "ACTION",
    "PipelineCreateRequest",
    "PipelineCreateResult",
    "github_pipeline_create",
    "render_workflow",
]

ACTION = "github:pipeline:create"
REPOSITORY_KIND = "github_repository"
WORKFLOW_KIND = "github_workflow"
ENVIRONMENT_KIND = "github_environment"
OIDC_PROVIDER_KIND = "iam_oidc_provider"
ROLE_KIND = "iam_role"
WORKFLOWS = ("ci.yml", "deploy.yml")
DEPLOY_ENVIRONMENT = "production"
# The purposes of the names registry.policy gives the service's AWS resources: its ECR
# repository and ECS service ("app", made by the compute action), its deploy role, and
# the task execution role ECS runs it with (iam:PassRole is granted only when the
# registry knows that role).
APP_PURPOSE = "app"
DEPLOY_PURPOSE = "deploy"
TASK_ROLE_PURPOSE = "task"
_PLACEHOLDER = re.compile(r"<<([a-z_]+)>>")


class PipelineCreateRequest(PavedRequest):
    """Add CI/CD to an existing service's repository: workflows, environments, deploy role."""

    service: str = Field(
        description="The existing service whose repository gets the pipeline.",
        examples=["orders"],
        json_schema_extra=policy.name_schema(max_length=policy.SERVICE_NAME_MAX),
    )
    region: str | None = Field(
        default=None,
        description="AWS region it deploys to, one of the account's allowed regions; "
        "empty means the account's default region.",
    )
    production_reviewers: int = Field(
        default=1,
        ge=1,
        le=6,
        description=(
            "How many reviewers the production environment lists (GitHub allows 1 to 6; "
            "one approval suffices): the owning team first, then the service's change "
            "approver, owner and on-call contact, each once."
        ),
    )

    @field_validator("service")
    @classmethod
    def _service_follows_policy(cls, value: str) -> str:
        return policy.validate_name(value, what="service name")


class PipelineCreateResult(BaseModel):
    """What the run created or found."""

    service: str = Field(description="Service the pipeline belongs to.")
    team: str = Field(description="Owning team.")
    repository: str = Field(description="owner/name of the repository.")
    region: str = Field(description="AWS region it deploys to.")
    deploy_role_arn: str = Field(description="Role the deploy workflow assumes.")
    oidc_provider_arn: str = Field(description="The account's GitHub Actions OIDC provider.")
    workflows: list[str] = Field(description="Workflow files in the repository.")
    environments: dict[str, list[str]] = Field(
        description="Deployment environments and their required reviewers."
    )
    changes: list[str] = Field(description="What this run changed; empty when all was in place.")
    dry_run: bool = Field(description="True when nothing was touched.")


class _Plan(BaseModel):
    """Everything the run will make, worked out before any side effect."""

    context: ServiceContext
    repository: RepositoryInfo
    region: str
    account_id: str
    oidc_provider_arn: str
    role_name: str
    ecr_repository: str
    ecr_repository_arn: str
    ecs_cluster: str
    ecs_cluster_arn: str
    ecs_service: str
    ecs_service_arn: str
    container_name: str
    task_execution_role_arn: str | None
    environments: list[EnvironmentSpec]
    reviewers: list[str]

    def trust_policy(self, provider_arn: str) -> dict[str, Any]:
        return github_oidc_trust_policy(
            provider_arn=provider_arn,
            repository=self.repository.full_name,
            environment=DEPLOY_ENVIRONMENT,
        )

    def permissions_policy(self) -> dict[str, Any]:
        return deploy_permissions_policy(
            ecr_repository_arn=self.ecr_repository_arn,
            ecs_service_arn=self.ecs_service_arn,
            ecs_cluster_arn=self.ecs_cluster_arn,
            task_execution_role_arn=self.task_execution_role_arn,
        )

    def role_arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:role/{self.role_name}"


def render_workflow(name: str, values: dict[str, str]) -> str:
    """The workflow template `name` of flows/templates/workflows with its `<<placeholders>>`
    filled; a placeholder without a value (or a value without a placeholder) is an error."""
    template = resources.files("flows").joinpath(f"templates/workflows/{name}").read_text()
    used = set(_PLACEHOLDER.findall(template))
    if used != set(values):
        raise KeyError(
            f"workflow template {name}: placeholders {sorted(used)} but values {sorted(values)}"
        )
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def _workflow_values(plan: _Plan, role_arn: str) -> dict[str, dict[str, str]]:
    common = {"service": plan.context.service, "default_branch": plan.repository.default_branch}
    return {
        "ci.yml": common,
        "deploy.yml": {
            **common,
            "aws_region": plan.region,
            "deploy_role_arn": role_arn,
            "ecr_repository": plan.ecr_repository,
            "ecs_cluster": plan.ecs_cluster,
            "ecs_service": plan.ecs_service,
            "container_name": plan.container_name,
        },
    }


def _registered_repository(context: ServiceContext) -> str:
    with registry_session() as session:
        repositories = queries.find_resources(
            session, service=context.service, kind=REPOSITORY_KIND, status=ResourceStatus.ACTIVE
        )
    if not repositories:
        raise NotFound(
            f"service {context.service!r} has no active GitHub repository in the registry: "
            "run github:repo:create first"
        )
    return repositories[0].external_id or repositories[0].name


def _task_execution_role(context: ServiceContext) -> str | None:
    name = policy.resource_name(
        team=context.team, service=context.service, purpose=TASK_ROLE_PURPOSE
    )
    with registry_session() as session:
        role = queries.get_resource(session, provider=Provider.AWS, kind=ROLE_KIND, name=name)
        if role is None or role.status != ResourceStatus.ACTIVE or not role.external_id:
            return None
        return role.external_id


def _reviewers(context: ServiceContext, wanted: int) -> list[str]:
    """The people after the team, in order: change approver, owner, on-call, each once."""
    people = list(
        dict.fromkeys(p for p in (context.change_approver, context.owner, context.oncall) if p)
    )
    if wanted - 1 > len(people):
        raise PolicyViolation(
            f"production_reviewers {wanted} asks for {wanted - 1} people besides team "
            f"{context.team!r}, but service {context.service!r} has {len(people)} "
            f"({', '.join(people) or 'none'}): ask for at most {len(people) + 1}"
        )
    return people[: wanted - 1]


def _plan(request: PipelineCreateRequest, github: GitHubOrganization, account: AwsAccount) -> _Plan:
    """Every check that can fail before a side effect does; returns what the run makes."""
    context = load_service_context(service=request.service, requester=request.requester)
    region = request.region or account.region
    if region not in account.allowed_regions:
        raise PolicyViolation(
            f"region {region!r} is not allowed; choose one of: {', '.join(account.allowed_regions)}"
        )
    full_name = _registered_repository(context)
    people = _reviewers(context, request.production_reviewers)
    repository = find_github_repository(github, name=full_name.split("/", 1)[-1])
    if repository is None:
        raise Conflict(
            f"the registry lists repository {full_name} for service {context.service!r}, "
            "but GitHub has no such repository: re-run github:repo:create to restore it"
        )
    account_id = get_account_id(account)
    app = policy.resource_name(team=context.team, service=context.service, purpose=APP_PURPOSE)
    cluster = account.ecs_cluster
    plan = _Plan(
        context=context,
        repository=repository,
        region=region,
        account_id=account_id,
        oidc_provider_arn=f"arn:aws:iam::{account_id}:oidc-provider/{GITHUB_OIDC_HOST}",
        role_name=policy.resource_name(
            team=context.team, service=context.service, purpose=DEPLOY_PURPOSE
        ),
        ecr_repository=app,
        ecr_repository_arn=f"arn:aws:ecr:{region}:{account_id}:repository/{app}",
        ecs_cluster=cluster,
        ecs_cluster_arn=f"arn:aws:ecs:{region}:{account_id}:cluster/{cluster}",
        ecs_service=app,
        ecs_service_arn=f"arn:aws:ecs:{region}:{account_id}:service/{cluster}/{app}",
        container_name=context.service,
        task_execution_role_arn=_task_execution_role(context),
        environments=[
            EnvironmentSpec(name="staging"),
            EnvironmentSpec(
                name=DEPLOY_ENVIRONMENT,
                reviewer_teams=[context.team],
                reviewer_users=people,
                protected_branches_only=True,
            ),
        ],
        reviewers=[f"@{github.organization}/{context.team}", *people],
    )
    # Both IAM documents are checked by Paved's validator now, before anything is written.
    plan.trust_policy(plan.oidc_provider_arn)
    plan.permissions_policy()
    return plan


@task(name="registry: record shared resource", cache_policy=NO_CACHE)
def record_shared_oidc_provider(*, service: str, arn: str) -> None:
    """The account's OIDC provider, owned by no service, and the service's dependency on it."""
    with registry_session() as session:
        queries.upsert_resource(
            session,
            service=None,
            provider=Provider.AWS,
            kind=OIDC_PROVIDER_KIND,
            name=arn,
            external_id=arn,
            spec={"url": f"https://{GITHUB_OIDC_HOST}", "client_ids": ["sts.amazonaws.com"]},
            tags={policy.TAG_MANAGED_BY: policy.MANAGED_BY},
            status=ResourceStatus.ACTIVE,
            error=None,
        )
        queries.add_dependency(
            session,
            service=service,
            depends_on_resource=(Provider.AWS, OIDC_PROVIDER_KIND, arn),
            description="GitHub Actions OIDC provider: deploys assume the deploy role through it",
        )


@flow(
    name="github-pipeline-create",
    flow_run_name=service_run_name("create-pipeline"),
    description="github:pipeline:create: CI/CD workflows, environments and an OIDC deploy role.",
    validate_parameters=True,
    log_prints=False,
)
def github_pipeline_create(request: PipelineCreateRequest) -> PipelineCreateResult:
    """Create (or converge) the CI/CD pipeline of `request.service`."""
    logger = get_run_logger()
    github = load_block(GitHubOrganization, GITHUB_BLOCK)
    account = load_block(AwsAccount, AWS_BLOCK)
    team = owning_team(request.service)
    with journaled(action=ACTION, request=request, team=team, service=request.service):
        plan = _plan(request, github, account)
        if request.dry_run:
            return _dry_run(request, plan)
        context = plan.context
        full_name = plan.repository.full_name
        role_ref = _ref(context, Provider.AWS, ROLE_KIND, plan.role_name)
        environment_refs = {
            spec.name: _ref(context, Provider.GITHUB, ENVIRONMENT_KIND, f"{full_name}:{spec.name}")
            for spec in plan.environments
        }
        workflow_refs = {
            name: _ref(context, Provider.GITHUB, WORKFLOW_KIND, f"{full_name}:{_path(name)}")
            for name in WORKFLOWS
        }
        specs: dict[str, dict[str, Any]] = {
            role_ref.name: {
                "trust_policy": plan.trust_policy(plan.oidc_provider_arn),
                "inline_policies": {DEPLOY_POLICY_NAME: plan.permissions_policy()},
            },
            **{environment_refs[spec.name].name: spec.model_dump() for spec in plan.environments},
            **{
                workflow_refs[name].name: {
                    "path": _path(name),
                    "branch": plan.repository.default_branch,
                }
                for name in WORKFLOWS
            },
        }
        for ref in (role_ref, *environment_refs.values(), *workflow_refs.values()):
            write_ahead(
                ref,
                team=context.team,
                owner=context.owner,
                description="",
                spec=specs[ref.name],
                tags=context.tags,
            )
        changes: list[str] = []

        current = role_ref
        try:
            provider_arn = ensure_github_oidc_provider(account)
            record_shared_oidc_provider(service=context.service, arn=provider_arn)
            role = ensure_deploy_role(
                account,
                name=plan.role_name,
                trust_policy=plan.trust_policy(provider_arn),
                permissions_policy=plan.permissions_policy(),
                tags=context.tags,
            )
            changes += role.changes
            _activate(
                role_ref,
                context,
                external_id=role.arn,
                url=f"https://console.aws.amazon.com/iam/home#/roles/{role.name}",
                spec=specs[role_ref.name],
            )
            for spec in plan.environments:
                current = environment_refs[spec.name]
                if ensure_environment(github, full_name=full_name, spec=spec):
                    changes.append(f"set up environment {spec.name} of {full_name}")
                _activate(
                    current,
                    context,
                    external_id=current.name,
                    url=f"{plan.repository.html_url}/settings/environments",
                    spec=specs[current.name],
                )
            values = _workflow_values(plan, role.arn)
            for name in WORKFLOWS:
                current = workflow_refs[name]
                path = _path(name)
                if ensure_file(
                    github,
                    full_name=full_name,
                    path=path,
                    content=render_workflow(name, values[name]),
                    branch=plan.repository.default_branch,
                    message=f"Paved: {name} workflow for {context.service}",
                ):
                    changes.append(f"committed {path}")
                _activate(
                    current,
                    context,
                    external_id=current.name,
                    url=f"{plan.repository.html_url}/blob/{plan.repository.default_branch}/{path}",
                    spec=specs[current.name],
                )
        except Exception as exc:
            record_failure(current, error=str(exc))
            raise

        result = PipelineCreateResult(
            service=context.service,
            team=context.team,
            repository=full_name,
            region=plan.region,
            deploy_role_arn=role.arn,
            oidc_provider_arn=provider_arn,
            workflows=[_path(name) for name in WORKFLOWS],
            environments={
                spec.name: plan.reviewers if spec.reviewer_teams else []
                for spec in plan.environments
            },
            changes=changes,
            dry_run=False,
        )
        _report(result)
        logger.info(
            "Pipeline of %s: %s", full_name, "; ".join(changes) or "all was in place already"
        )
        return result


def _path(workflow: str) -> str:
    return f".github/workflows/{workflow}"


def _ref(context: ServiceContext, provider: Provider, kind: str, name: str) -> ResourceRef:
    return ResourceRef(service=context.service, provider=provider, kind=kind, name=name)


def _activate(
    ref: ResourceRef, context: ServiceContext, *, external_id: str, url: str, spec: dict[str, Any]
) -> None:
    record_active(
        ref,
        team=context.team,
        owner=context.owner,
        external_id=external_id,
        url=url,
        spec=spec,
        tags=context.tags,
    )


def _dry_run(request: PipelineCreateRequest, plan: _Plan) -> PipelineCreateResult:
    context = plan.context
    full_name = plan.repository.full_name
    reviewers = ", ".join(f"`{reviewer}`" for reviewer in plan.reviewers)
    lines = [
        f"# Dry run: {ACTION} {full_name}",
        "",
        "Nothing was touched. A real run would make sure that:",
        "",
        f"- the account {plan.account_id} has the GitHub Actions OIDC provider "
        f"`{plan.oidc_provider_arn}` (one per account, shared)",
        f"- IAM role `{plan.role_name}` exists, assumable only by "
        f"`repo:{full_name}:environment:{DEPLOY_ENVIRONMENT}`, with inline policy "
        f"`{DEPLOY_POLICY_NAME}` limited to ECR repository `{plan.ecr_repository}` and ECS "
        f"service `{plan.ecs_cluster}/{plan.ecs_service}` in {plan.region}"
        + (
            f", passing only `{plan.task_execution_role_arn}` to ECS"
            if plan.task_execution_role_arn
            else ""
        ),
        "- environment `staging` exists without reviewers",
        f"- environment `{DEPLOY_ENVIRONMENT}` requires one approval of {reviewers}, "
        "from protected branches only",
        *(
            f"- `{_path(name)}` is committed to `{plan.repository.default_branch}`"
            for name in WORKFLOWS
        ),
        f"- the registry lists each of them for service `{context.service}`, "
        f"owner `{context.owner}`",
        "",
        "Tags: " + ", ".join(f"`{k}={v}`" for k, v in context.tags.items()),
    ]
    markdown = "\n".join(lines)
    get_run_logger().info(markdown)
    create_markdown_artifact(
        markdown=markdown, key=f"plan-pipeline-{request.service}", description="Dry run"
    )
    return PipelineCreateResult(
        service=context.service,
        team=context.team,
        repository=full_name,
        region=plan.region,
        deploy_role_arn=plan.role_arn(),
        oidc_provider_arn=plan.oidc_provider_arn,
        workflows=[_path(name) for name in WORKFLOWS],
        environments={
            spec.name: plan.reviewers if spec.reviewer_teams else [] for spec in plan.environments
        },
        changes=[],
        dry_run=True,
    )


def _report(result: PipelineCreateResult) -> None:
    changes = "\n".join(f"- {change}" for change in result.changes) or "- nothing: all was in place"
    environments = "\n".join(
        f"| {name} | {', '.join(reviewers) or 'none'} |"
        for name, reviewers in result.environments.items()
    )
    markdown = (
        f"# Pipeline of {result.repository}\n\n"
        f"| service | team | region | deploy role |\n|---|---|---|---|\n"
        f"| {result.service} | {result.team} | {result.region} | `{result.deploy_role_arn}` |\n\n"
        f"| environment | required reviewers |\n|---|---|\n{environments}\n\n"
        f"Workflows: {', '.join(f'`{path}`' for path in result.workflows)}\n\n"
        f"## What this run changed\n\n{changes}\n"
    )
    create_markdown_artifact(
        markdown=markdown,
        key=f"pipeline-{result.service}",
        description=f"{ACTION} {result.repository}",
    )
