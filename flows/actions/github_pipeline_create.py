"""`github:pipeline:create` — CI/CD for a service's repository, deploying through OIDC.

The run: validate (the service, its repository, the region, the reviewers, both IAM
documents) -> `pipeline_plan` applied by the engine: write ahead (deploy role,
environments, workflows as `provisioning`) -> AWS (the account's GitHub OIDC provider,
then the service's deploy role trusted only by the repository's `production` environment
and allowed only its ECR repository and ECS service) beside GitHub (environments
`staging` and `production`, the latter approved by the owning team) -> then
`.github/workflows/ci.yml` and `deploy.yml` -> each resource `active` with its provider
id -> a markdown artifact.

The plan needs neither the repository nor the compute to exist: every name and ARN is
the naming policy's, so `service:create` can plan it with the repository and compute
in one union. Run alone, the repository is *given* (`Plan.given`), as the registry and
GitHub hold it.

Environments come before the workflows: GitHub creates an environment a workflow names
on its first run, unprotected, and a push of `deploy.yml` would start one.

The OIDC provider is shared by every service of the account, so the engine records it
with no service (the platform's) and the service's dependency on it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel, Field

from blocks import AWS_BLOCK, GITHUB_BLOCK, AwsAccount, GitHubOrganization, load_block
from flows.actions.github_repo_create import RESOURCE_KIND as REPOSITORY_KIND
from flows.engine.action import allowed_region
from flows.engine.apply import Applied, Ensure, Submitted, Waits, apply_plan
from flows.engine.context import ServiceContext, load_service_context
from flows.engine.plan import Plan, PlannedResource, ResourceRef
from flows.engine.runtime import journaled, owning_team, service_run_name
from flows.engine.session import registry_session
from flows.request_models.github_pipeline_create import PipelineCreateRequest
from registry import policy, queries
from registry.errors import Conflict, NotFound, PolicyViolation
from registry.models import Provider, ResourceStatus
from tasks.aws.iam import (
    DEPLOY_POLICY_NAME,
    GITHUB_OIDC_URL,
    ensure_deploy_role,
    ensure_github_oidc_provider,
    get_account_id,
)
from tasks.aws.policy_documents import (
    GITHUB_OIDC_AUDIENCE,
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
    "given_repository",
    "pipeline_ensurers",
    "pipeline_plan",
    "render_workflow",
    "repository_key",
]

ACTION = "github:pipeline:create"
WORKFLOW_KIND = "github_workflow"
ENVIRONMENT_KIND = "github_environment"
OIDC_PROVIDER_KIND = "iam_oidc_provider"
ROLE_KIND = "iam_role"
WORKFLOWS = ("ci.yml", "deploy.yml")
STAGING_ENVIRONMENT = "staging"
DEPLOY_ENVIRONMENT = "production"
# The purposes of the names registry.policy gives the service's AWS resources: its ECR
# repository and ECS service ("app", made by the compute action), its deploy role, and
# the task execution role ECS runs it with (the deploy role may pass only that one).
APP_PURPOSE = "app"
DEPLOY_PURPOSE = "deploy"
TASK_ROLE_PURPOSE = "task"
# What the service depends on them for (registry dependency kinds). The OIDC provider
# keeps "uses", the kind its dependency was recorded with before the engine.
DEPLOYS_WITH = "deploys-with"
USES = "uses"
# The settings of deploy.yml the plan fixes; the ensurer adds the service, the
# repository's default branch and the deploy role's ARN.
DEPLOY_SETTINGS = ("aws_region", "ecr_repository", "ecs_cluster", "ecs_service", "container_name")
_PLACEHOLDER = re.compile(r"<<([a-z_]+)>>")


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


# -- the plan ---------------------------------------------------------------------------


def repository_key(github_org: str, service: str) -> str:
    """The plan key of the service's repository, as github:repo:create names it
    (`github_repository:<org>/<service>`): what the environments and workflows need."""
    return f"{REPOSITORY_KIND}:{github_org}/{service}"


def given_repository(repository: RepositoryInfo) -> Applied:
    """The repository an earlier github:repo:create made, as a plan is given it: what
    the ensurers read (full name, default branch, link) comes from here, not the registry."""
    return Applied(
        external_id=repository.full_name,
        url=repository.html_url,
        created=False,
        changes=[],
        spec={
            "default_branch": repository.default_branch,
            "full_name": repository.full_name,
            "html_url": repository.html_url,
        },
    )


def oidc_provider_arn(account_id: str) -> str:
    """The ARN IAM gives the account's GitHub Actions OIDC provider (one per account)."""
    return f"arn:aws:iam::{account_id}:oidc-provider/{GITHUB_OIDC_HOST}"


def role_arn(account_id: str, name: str) -> str:
    """The ARN of IAM role `name` (IAM is global: no region)."""
    return f"arn:aws:iam::{account_id}:role/{name}"


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


def _workflow_path(workflow: str) -> str:
    return f".github/workflows/{workflow}"


def pipeline_plan(
    request: PipelineCreateRequest,
    context: ServiceContext,
    *,
    account_id: str,
    region: str,
    cluster: str,
    github_org: str,
    repository: RepositoryInfo | None,
) -> Plan:
    """The six resources of a pipeline: the account's OIDC provider (shared) and the
    deploy role it trusts; the environments `staging` and `production`; then `ci.yml`
    and `deploy.yml` (which names the role). Pure: no provider call, and nothing needs
    the compute to exist (its names and ARNs are the policy's).

    The environments and workflows need the repository, `repository_key(...)`: given
    `repository` (what GitHub holds), the plan is given it and is complete; without it,
    the plan is a part for a union whose other part plans the repository, and applying
    it alone is an error. Both IAM documents are validated here: a bad one is an
    InvalidPolicyDocument before anything is written.
    """
    service, team = context.service, context.team
    people = _reviewers(context, request.production_reviewers)
    full_name = repository.full_name if repository else f"{github_org}/{service}"
    repo_key = repository_key(github_org, service)
    app = policy.resource_name(team=team, service=service, purpose=APP_PURPOSE)
    role_name = policy.resource_name(team=team, service=service, purpose=DEPLOY_PURPOSE)
    task_role = policy.resource_name(team=team, service=service, purpose=TASK_ROLE_PURPOSE)
    provider_arn = oidc_provider_arn(account_id)

    def planned(provider: Provider, kind: str, name: str, /, **spec: Any) -> PlannedResource:
        ref = ResourceRef(service=service, provider=provider, kind=kind, name=name)
        return PlannedResource(ref=ref, spec=spec, relation=DEPLOYS_WITH)

    oidc = planned(
        Provider.AWS,
        OIDC_PROVIDER_KIND,
        provider_arn,
        url=GITHUB_OIDC_URL,
        client_ids=[GITHUB_OIDC_AUDIENCE],
    )
    oidc.shared, oidc.relation = True, USES
    role = planned(
        Provider.AWS,
        ROLE_KIND,
        role_name,
        repository=full_name,
        # Both documents are validated as they are built: a bad one stops the plan.
        trust_policy=github_oidc_trust_policy(
            provider_arn=provider_arn, repository=full_name, environment=DEPLOY_ENVIRONMENT
        ),
        inline_policies={
            DEPLOY_POLICY_NAME: deploy_permissions_policy(
                ecr_repository_arn=f"arn:aws:ecr:{region}:{account_id}:repository/{app}",
                ecs_service_arn=f"arn:aws:ecs:{region}:{account_id}:service/{cluster}/{app}",
                ecs_cluster_arn=f"arn:aws:ecs:{region}:{account_id}:cluster/{cluster}",
                # The policy's name, not the registry's record: the pipeline may be
                # planned before the compute exists. Passing a role that does not exist
                # yet grants nothing.
                task_execution_role_arn=role_arn(account_id, task_role),
            )
        },
    )
    role.depends_on = [oidc.key]  # its trust names the provider's ARN
    environments = [
        planned(
            Provider.GITHUB,
            ENVIRONMENT_KIND,
            f"{full_name}:{spec.name}",
            **spec.model_dump(),
        )
        for spec in (
            EnvironmentSpec(name=STAGING_ENVIRONMENT),
            EnvironmentSpec(
                name=DEPLOY_ENVIRONMENT,
                reviewer_teams=[team],
                reviewer_users=people,
                protected_branches_only=True,
            ),
        )
    ]
    for environment in environments:
        environment.depends_on = [repo_key]
    ci, deploy = (
        planned(
            Provider.GITHUB,
            WORKFLOW_KIND,
            f"{full_name}:{_workflow_path(name)}",
            path=_workflow_path(name),
            **settings,
        )
        for name, settings in (
            ("ci.yml", {}),
            (
                "deploy.yml",
                {
                    "aws_region": region,
                    "ecr_repository": app,
                    "ecs_cluster": cluster,
                    "ecs_service": app,
                    "container_name": service,
                },
            ),
        )
    )
    # The workflows are committed last, one at a time (two commits racing on the default
    # branch would fail one): once the environments exist, so the first run of deploy.yml
    # finds `production` protected, and once the deploy role exists, since deploy.yml
    # names it. Order only where nothing is read: a failure before them leaves their
    # write-ahead for a re-run.
    environment_keys = [environment.key for environment in environments]
    ci.depends_on, ci.after = [repo_key], [role.key, *environment_keys]
    deploy.depends_on, deploy.after = [repo_key, role.key], [*environment_keys, ci.key]
    reviewers = ", ".join(f"`{who}`" for who in [f"@{github_org}/{team}", *people])
    notes = [
        f"the OIDC provider `{provider_arn}` is the account's, shared by every service: "
        "recorded with no service",
        f"role `{role_name}` is assumable only by "
        f"`repo:{full_name}:environment:{DEPLOY_ENVIRONMENT}`",
        f"environment `{DEPLOY_ENVIRONMENT}` requires one approval of {reviewers}, from "
        "protected branches only",
    ]
    resources = [oidc, role, *environments, ci, deploy]
    if repository is not None:
        return Plan(
            action=ACTION,
            service=service,
            resources=resources,
            notes=notes,
            given={repo_key: given_repository(repository)},
        )
    # A part for a union that plans the repository: validated with a stand-in for it
    # (every other dependency planned, no cycle), then returned needing it, so the union
    # checks the key against the repository it plans. (The engine has no way for a part
    # plan to declare what another part must plan; `Plan.needs` would say it outright.)
    stand_in = Applied(external_id=full_name, created=False, changes=[])
    checked = Plan(
        action=ACTION,
        service=service,
        resources=resources,
        notes=notes,
        given={repo_key: stand_in},
    )
    return checked.model_copy(update={"given": {}})


# -- the ensurers -----------------------------------------------------------------------


def _upstream(upstream: Mapping[str, Applied], kind: str) -> Applied:
    """The outcome of the one resource of `kind` a planned resource depends on."""
    (found,) = (applied for key, applied in upstream.items() if key.startswith(f"{kind}:"))
    return found


class _Repository(BaseModel):
    """What the GitHub ensurers read of the repository they work in."""

    full_name: str
    html_url: str
    default_branch: str

    @classmethod
    def of(cls, applied: Applied) -> _Repository:
        """From the repository's outcome: given, or made by github:repo:create in a union."""
        return cls(
            full_name=applied.spec.get("full_name") or applied.external_id,
            html_url=applied.spec.get("html_url") or applied.url or "",
            default_branch=applied.spec["default_branch"],
        )


def pipeline_ensurers(
    github: GitHubOrganization, account: AwsAccount, tags: dict[str, str]
) -> dict[str, Ensure]:
    """How the engine makes sure of each pipeline kind: its ensure task in `account` or
    the `github` organization. The repository's name, branch and link come from its
    outcome upstream, the OIDC provider's ARN from the provider's."""

    def oidc_provider(item: PlannedResource, _: Mapping[str, Applied], wait: Waits) -> Submitted:
        future = ensure_github_oidc_provider.submit(account)
        # The task answers with the ARN only: whether it made the provider, its log says.
        return Submitted(future, lambda arn: Applied(external_id=arn, created=False, changes=[]))

    def deploy_role(
        item: PlannedResource, upstream: Mapping[str, Applied], wait: Waits
    ) -> Submitted:
        provider_arn = _upstream(upstream, OIDC_PROVIDER_KIND).external_id
        trust = github_oidc_trust_policy(
            provider_arn=provider_arn,
            repository=item.spec["repository"],
            environment=DEPLOY_ENVIRONMENT,
        )
        future = ensure_deploy_role.submit(
            account,
            name=item.ref.name,
            trust_policy=trust,
            permissions_policy=item.spec["inline_policies"][DEPLOY_POLICY_NAME],
            tags=tags,
            wait_for=wait,
            return_state=False,
        )
        return Submitted(
            future,
            lambda role: Applied(
                external_id=role.arn,
                url=f"https://console.aws.amazon.com/iam/home#/roles/{role.name}",
                created=f"created role {role.name}" in role.changes,
                changes=role.changes,
                spec={"trust_policy": trust},
            ),
        )

    def environment(
        item: PlannedResource, upstream: Mapping[str, Applied], wait: Waits
    ) -> Submitted:
        repository = _Repository.of(_upstream(upstream, REPOSITORY_KIND))
        spec = EnvironmentSpec(**item.spec)
        future = ensure_environment.submit(
            github, full_name=repository.full_name, spec=spec, wait_for=wait, return_state=False
        )
        change = f"set up environment {spec.name} of {repository.full_name}"
        return Submitted(
            future,
            lambda changed: Applied(
                external_id=item.ref.name,
                url=f"{repository.html_url}/settings/environments",
                created=False,
                changes=[change] if changed else [],
            ),
        )

    def workflow(item: PlannedResource, upstream: Mapping[str, Applied], wait: Waits) -> Submitted:
        repository = _Repository.of(_upstream(upstream, REPOSITORY_KIND))
        path, branch = item.spec["path"], repository.default_branch
        name = path.rsplit("/", 1)[-1]
        values = {"service": item.ref.service, "default_branch": branch}
        values |= {key: item.spec[key] for key in DEPLOY_SETTINGS if key in item.spec}
        if any(key.startswith(f"{ROLE_KIND}:") for key in upstream):
            values["deploy_role_arn"] = _upstream(upstream, ROLE_KIND).external_id
        future = ensure_file.submit(
            github,
            full_name=repository.full_name,
            path=path,
            content=render_workflow(name, values),
            branch=branch,
            message=f"Paved: {name} workflow for {item.ref.service}",
            wait_for=wait,
            return_state=False,
        )
        return Submitted(
            future,
            lambda changed: Applied(
                external_id=item.ref.name,
                url=f"{repository.html_url}/blob/{branch}/{path}",
                created=False,
                changes=[f"committed {path}"] if changed else [],
                spec={"branch": branch},
            ),
        )

    return {
        OIDC_PROVIDER_KIND: oidc_provider,
        ROLE_KIND: deploy_role,
        ENVIRONMENT_KIND: environment,
        WORKFLOW_KIND: workflow,
    }


# -- the action -------------------------------------------------------------------------


def _registered_repository(context: ServiceContext) -> str:
    """The owner/name of the service's repository as the registry lists it (active)."""
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


def _repository(context: ServiceContext, github: GitHubOrganization) -> RepositoryInfo:
    """The service's repository: listed by the registry and present in GitHub."""
    full_name = _registered_repository(context)
    repository = find_github_repository(github, name=full_name.split("/", 1)[-1])
    if repository is None:
        raise Conflict(
            f"the registry lists repository {full_name} for service {context.service!r}, "
            "but GitHub has no such repository: re-run github:repo:create to restore it"
        )
    return repository


@flow(
    name="github-pipeline-create",
    flow_run_name=service_run_name("create-pipeline"),
    description="github:pipeline:create: CI/CD workflows, environments and an OIDC deploy role.",
    validate_parameters=True,
    log_prints=False,
)
def github_pipeline_create(request: PipelineCreateRequest) -> PipelineCreateResult:
    """Create (or converge) the CI/CD pipeline of `request.service`."""
    github = load_block(GitHubOrganization, GITHUB_BLOCK)
    account = load_block(AwsAccount, AWS_BLOCK)
    team = owning_team(request.service)
    with journaled(action=ACTION, request=request, team=team, service=request.service) as run:
        context = load_service_context(service=request.service, requester=request.requester)
        region = allowed_region(request.region, account)
        repository = _repository(context, github)
        plan = pipeline_plan(
            request,
            context,
            account_id=get_account_id(account),
            region=region,
            cluster=account.ecs_cluster,
            github_org=github.organization,
            repository=repository,
        )
        if request.dry_run:
            _dry_run(plan, context)
            return _result(plan, context, outcomes=[(item, None) for item in plan.resources])
        applied = apply_plan(
            plan,
            context=context,
            ensure=pipeline_ensurers(github, account, context.tags),
            flow_run_id=run.flow_run_id,
        )
        result = _result(plan, context, outcomes=applied)
        _report(result)
        get_run_logger().info(
            "Pipeline of %s: %s",
            result.repository,
            "; ".join(result.changes) or "all was in place already",
        )
        return result


def _of_kind(plan: Plan, kind: str) -> list[PlannedResource]:
    return [item for item in plan.resources if item.ref.kind == kind]


def _environment_reviewers(item: PlannedResource, github_org: str) -> list[str]:
    """The required reviewers of an environment: its teams (`@org/team`), then people."""
    spec = EnvironmentSpec(**item.spec)
    return [f"@{github_org}/{slug}" for slug in spec.reviewer_teams] + spec.reviewer_users


def _result(
    plan: Plan,
    context: ServiceContext,
    *,
    outcomes: Sequence[tuple[PlannedResource, Applied | None]],
) -> PipelineCreateResult:
    """The result of a run (`None` outcomes: a dry run, the ARNs the policy names)."""
    done = {item.key: applied for item, applied in outcomes if applied is not None}
    (oidc,) = _of_kind(plan, OIDC_PROVIDER_KIND)
    (role,) = _of_kind(plan, ROLE_KIND)
    full_name: str = role.spec["repository"]
    deploy = _of_kind(plan, WORKFLOW_KIND)[-1]
    account_id = oidc.ref.name.split(":")[4]
    return PipelineCreateResult(
        service=context.service,
        team=context.team,
        repository=full_name,
        region=deploy.spec["aws_region"],
        deploy_role_arn=(
            done[role.key].external_id if role.key in done else role_arn(account_id, role.ref.name)
        ),
        oidc_provider_arn=done[oidc.key].external_id if oidc.key in done else oidc.ref.name,
        workflows=[item.spec["path"] for item in _of_kind(plan, WORKFLOW_KIND)],
        environments={
            item.spec["name"]: _environment_reviewers(item, full_name.split("/")[0])
            for item in _of_kind(plan, ENVIRONMENT_KIND)
        },
        changes=[change for applied in done.values() for change in applied.changes],
        dry_run=not done,
    )


def _dry_run(plan: Plan, context: ServiceContext) -> str:
    """Today's dry-run words, read off the plan; touches nothing."""
    (oidc,) = _of_kind(plan, OIDC_PROVIDER_KIND)
    (role,) = _of_kind(plan, ROLE_KIND)
    staging, production = _of_kind(plan, ENVIRONMENT_KIND)
    workflows = _of_kind(plan, WORKFLOW_KIND)
    deploy = workflows[-1].spec
    full_name = role.spec["repository"]
    given = next(iter(plan.given.values()), None)
    branch = given.spec["default_branch"] if given else "the default branch"
    passes = [
        statement["Resource"]
        for statement in role.spec["inline_policies"][DEPLOY_POLICY_NAME]["Statement"]
        if statement.get("Sid") == "PassTaskExecutionRole"
    ]
    reviewers = ", ".join(
        f"`{who}`" for who in _environment_reviewers(production, full_name.split("/")[0])
    )
    lines = [
        f"# Dry run: {ACTION} {full_name}",
        "",
        "Nothing was touched. A real run would make sure that:",
        "",
        f"- the account {oidc.ref.name.split(':')[4]} has the GitHub Actions OIDC provider "
        f"`{oidc.ref.name}` (one per account, shared)",
        f"- IAM role `{role.ref.name}` exists, assumable only by "
        f"`repo:{full_name}:environment:{DEPLOY_ENVIRONMENT}`, with inline policy "
        f"`{DEPLOY_POLICY_NAME}` limited to ECR repository `{deploy['ecr_repository']}` and "
        f"ECS service `{deploy['ecs_cluster']}/{deploy['ecs_service']}` in "
        f"{deploy['aws_region']}" + "".join(f", passing only `{arn}` to ECS" for arn in passes),
        f"- environment `{staging.spec['name']}` exists without reviewers",
        f"- environment `{production.spec['name']}` requires one approval of {reviewers}, "
        "from protected branches only",
        *(f"- `{item.spec['path']}` is committed to `{branch}`" for item in workflows),
        f"- the registry lists each of them for service `{context.service}`, "
        f"owner `{context.owner}`",
        "",
        "Tags: " + ", ".join(f"`{k}={v}`" for k, v in context.tags.items()),
    ]
    markdown = "\n".join(lines)
    get_run_logger().info(markdown)
    create_markdown_artifact(
        markdown=markdown, key=f"plan-pipeline-{context.service}", description="Dry run"
    )
    return markdown


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
