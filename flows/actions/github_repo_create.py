"""`github:repo:create` — a repository from the golden-path template, owned and protected.

The run: validate (policy, team, people, never adopt) -> `repo_plan` (the repository, one
planned resource) applied by the engine (`flows.engine.apply`: claim, write-ahead, the
repository's ensure task, ownership and results in one transaction) -> a markdown artifact.

The repository's ensure task makes sure of all of it in order: the repository from the
template, its topics, CODEOWNERS, branch protection and the team's permission. These are
settings of the one repository (its registry spec declares them, the drift audit checks
them), not resources of their own: the registry holds one row, the repository.

The run creates the service: a new one is written with its description before the plan
(the engine writes a service without one), `provisioning`, and is `active` and owned once
the repository is. Re-running a request that completed changes nothing; one that failed
half-way resumes. A re-run naming another owner is refused: ownership moves only by
service:transfer.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, Field

from blocks import GITHUB_BLOCK, GitHubOrganization, load_block
from flows.engine.apply import Applied, Ensure, Submitted, Waits, apply_plan
from flows.engine.context import ServiceContext
from flows.engine.plan import Plan, PlannedResource, ResourceRef
from flows.engine.runtime import journaled, request_field
from flows.engine.session import registry_session
from flows.request_models.github_repo_create import RepoCreateRequest
from registry import policy, queries
from registry.errors import Conflict
from registry.models import Provider, Service
from tasks.github import (
    BranchProtection,
    RepositoryInfo,
    ensure_branch_protection,
    ensure_file,
    ensure_repository_from_template,
    ensure_team_permission,
    ensure_topics,
    find_repository,
)

__all__ = [
    "ACTION",
    "RESOURCE_KIND",
    "TEAM_PERMISSION",
    "RepoCreateRequest",
    "RepoCreateResult",
    "check_request",
    "codeowners_file",
    "github_repo_create",
    "repo_ensurers",
    "repo_plan",
]

ACTION = "github:repo:create"
RESOURCE_KIND = "github_repository"
TEAM_PERMISSION = "maintain"
# How the service depends on its repository (registry dependency kind): it is built from it.
RELATION = "built-from"


class RepoCreateResult(BaseModel):
    """What the run created or found."""

    repository: str = Field(description="owner/name of the repository.")
    url: str = Field(description="Link to the repository.")
    service: str = Field(description="Service the repository belongs to.")
    owner: str = Field(description="Accountable owner written to the registry.")
    team: str = Field(description="Owning team.")
    created: bool = Field(description="True when this run created the repository.")
    changes: list[str] = Field(description="What this run changed; empty when all was in place.")
    dry_run: bool = Field(description="True when nothing was touched.")


class RepositoryMade(BaseModel):
    """What the repository's ensure task found or made, and what it changed."""

    repository: RepositoryInfo = Field(description="The repository as GitHub has it.")
    changes: list[str] = Field(description="What the task changed; empty when all was in place.")


def codeowners_file(organization: str, team: str) -> str:
    """The CODEOWNERS file naming `team` as owner of everything in the repository."""
    template = resources.files("flows").joinpath("templates/CODEOWNERS").read_text()
    return template.format(organization=organization, team=team)


def repo_plan(request: RepoCreateRequest, github: GitHubOrganization) -> Plan:
    """The repository `<organization>/<name>` with every setting the run makes sure of:
    one planned resource, key `github_repository:<organization>/<name>`, needing nothing.
    Pure: the organization block's settings only, no provider call."""
    full_name = f"{github.organization}/{request.name}"
    template = request.template or github.template_repository
    spec = {
        "template": f"{github.organization}/{template}",
        "private": request.private,
        "topics": ["paved", request.team],
        "codeowners": f"@{github.organization}/{request.team}",
        "default_branch": github.default_branch,
        "branch_protection": BranchProtection().model_dump(),
        "team_permission": {request.team: TEAM_PERMISSION},
    }
    ref = ResourceRef(
        service=request.name, provider=Provider.GITHUB, kind=RESOURCE_KIND, name=full_name
    )
    repository = PlannedResource(ref=ref, spec=spec, relation=RELATION)
    notes = [
        f"`CODEOWNERS` of `{full_name}` names `{spec['codeowners']}`",
        f"branch `{github.default_branch}` of `{full_name}` requires a code-owner review",
        f"team `{request.team}` has `{TEAM_PERMISSION}` on `{full_name}`",
    ]
    return Plan(action=ACTION, service=request.name, resources=[repository], notes=notes)


@task(name="github: make sure of the service repository", cache_policy=NO_CACHE)
def ensure_service_repository(
    github: GitHubOrganization,
    *,
    full_name: str,
    description: str,
    private: bool,
    template: str,
    topics: list[str],
    team: str,
    permission: str,
    protection: BranchProtection,
) -> RepositoryMade:
    """The repository from `template` with its topics, CODEOWNERS naming `team`, the
    default branch protected and `team`'s permission, in that order. Each step is its own
    idempotent provider task retrying transient failures, so this task never retries:
    a permanent failure (a 403) fails it at once."""
    name = full_name.split("/", 1)[1]
    changes: list[str] = []
    repo = ensure_repository_from_template(
        github, name=name, description=description, private=private, template=template
    )
    if repo.created:
        changes.append(f"created {full_name} from {github.organization}/{template}")
    if ensure_topics(github, full_name=full_name, topics=topics):
        changes.append("set topics " + ", ".join(topics))
    if ensure_file(
        github,
        full_name=full_name,
        path="CODEOWNERS",
        content=codeowners_file(github.organization, team),
        branch=repo.default_branch,
        message=f"Paved: {team} owns {name}",
    ):
        changes.append(f"committed CODEOWNERS naming @{github.organization}/{team}")
    if ensure_branch_protection(
        github, full_name=full_name, branch=repo.default_branch, protection=protection
    ):
        changes.append(f"protected branch {repo.default_branch}")
    if ensure_team_permission(github, team=team, full_name=full_name, permission=permission):
        changes.append(f"gave team {team} {permission}")
    return RepositoryMade(repository=repo, changes=changes)


def repo_ensurers(github: GitHubOrganization, *, description: str) -> dict[str, Ensure]:
    """How the engine makes sure of a repository of `repo_plan`: its ensure task in
    `github`'s organization, with `description` (GitHub's, set when it is created). The
    outcome carries `default_branch`, `full_name` and `html_url` in its spec, for what
    depends on the repository (a pipeline)."""

    def repository(item: PlannedResource, _: Mapping[str, Applied], wait: Waits) -> Submitted:
        spec = item.spec
        ((team, permission),) = spec["team_permission"].items()
        future = ensure_service_repository.submit(
            github,
            full_name=item.ref.name,
            description=description,
            private=spec["private"],
            template=spec["template"].split("/", 1)[1],
            topics=list(spec["topics"]),
            team=team,
            permission=permission,
            protection=BranchProtection(**spec["branch_protection"]),
            wait_for=wait,
            return_state=False,
        )
        return Submitted(future, _applied)

    return {RESOURCE_KIND: repository}


def _applied(made: RepositoryMade) -> Applied:
    repo = made.repository
    return Applied(
        external_id=repo.full_name,
        url=repo.html_url,
        created=repo.created,
        changes=made.changes,
        spec={
            "default_branch": repo.default_branch,
            "full_name": repo.full_name,
            "html_url": repo.html_url,
        },
    )


def _context(
    request: RepoCreateRequest, *, cost_center: str, service: Service | None
) -> ServiceContext:
    """The service as the engine applies the plan for it: the request's owner and team
    (the registry's if it exists, as `check_request` checked), the policy tags they imply."""
    return ServiceContext(
        service=request.name,
        team=request.team,
        owner=request.owner,
        cost_center=cost_center,
        # A new service gets the registry's defaults when it is written ahead.
        change_approver=service.change_approver.handle
        if service is not None and service.change_approver
        else None,
        oncall=service.oncall.handle if service is not None and service.oncall else None,
        tags=policy.policy_tags(
            service=request.name, team=request.team, owner=request.owner, cost_center=cost_center
        ),
    )


def check_request(request: RepoCreateRequest, github: GitHubOrganization) -> ServiceContext:
    """Every check that can fail before a side effect does; returns the service's context
    (its tags are the request's owner and team, the team's cost center)."""
    full_name = f"{github.organization}/{request.name}"
    with registry_session() as session:
        team = queries.require_team(session, slug=request.team)
        queries.require_active_member(
            session, team=request.team, handle=request.owner, role="owner"
        )
        queries.require_active_member(
            session, team=request.team, handle=request.requester, role="requester"
        )
        service = queries.get_service(session, name=request.name)
        if service is not None and service.team.slug != request.team:
            raise Conflict(
                f"service {request.name!r} already belongs to team {service.team.slug!r}; "
                "ask for service:transfer instead"
            )
        if service is not None and service.owner.handle != request.owner.strip().lower():
            # A re-run must not hand the service to whoever it names: ownership moves
            # only through service:transfer, with the change approver's approval.
            raise Conflict(
                f"service {request.name!r} is owned by {service.owner.handle!r}; "
                f"github:repo:create does not move ownership to {request.owner!r}: ask for "
                "service:transfer, which its change approver approves"
            )
        known = queries.get_resource(
            session, provider=Provider.GITHUB, kind=RESOURCE_KIND, name=full_name
        )
        ours = (
            known is not None and known.service is not None and known.service.name == request.name
        )
        context = _context(request, cost_center=team.cost_center, service=service)
    # Never adopt. A repository is this service's when the registry records it for the
    # service: Paved writes that record before it creates the repository, so a re-run
    # after a failure still finds its own. The `paved` topic is not enough on its own:
    # any admin of any repository can set it.
    if not ours:
        existing = find_repository(github, name=request.name)
        if existing is not None:
            topics = ", ".join(existing.topics) or "none"
            raise Conflict(
                f"repository {full_name} already exists in GitHub and is not service "
                f"{request.name!r}'s in the registry (its topics: {topics}); Paved never adopts "
                "a repository it did not make and changed nothing: pick another name"
            )
    return context


@task(name="registry: write the service ahead", cache_policy=NO_CACHE)
def write_service_ahead(request: RepoCreateRequest) -> None:
    """A new service `provisioning` with the request's description (the engine's
    write-ahead creates a service without one); an existing one is left as it is."""
    with registry_session() as session:
        queries.get_or_create_service(
            session,
            name=request.name,
            team=request.team,
            owner=request.owner,
            description=request.description,
        )


def _run_name() -> str:
    return f"create-repo/{request_field('team')}/{request_field('name')}"


@flow(
    name="github-repo-create",
    flow_run_name=_run_name,
    description="github:repo:create: a repository from the golden-path template, owned, protected.",
    validate_parameters=True,
    log_prints=False,
)
def github_repo_create(request: RepoCreateRequest) -> RepoCreateResult:
    """Create (or converge) the repository `request.name` for `request.team`."""
    github = load_block(GitHubOrganization, GITHUB_BLOCK)
    with journaled(action=ACTION, request=request, team=request.team, service=request.name) as run:
        context = check_request(request, github)
        plan = repo_plan(request, github)
        if request.dry_run:
            return _dry_run(request, plan, context)
        write_service_ahead(request)
        ((_, applied),) = apply_plan(
            plan,
            context=context,
            ensure=repo_ensurers(github, description=request.description),
            flow_run_id=run.flow_run_id,
        )
        result = RepoCreateResult(
            repository=applied.external_id,
            url=applied.url or "",
            service=request.name,
            owner=request.owner,
            team=request.team,
            created=applied.created,
            changes=applied.changes,
            dry_run=False,
        )
        _report(result)
        get_run_logger().info(
            "%s %s for team %s, owner %s",
            "Created" if applied.created else "Converged",
            result.url,
            request.team,
            request.owner,
        )
        return result


def _dry_run(request: RepoCreateRequest, plan: Plan, context: ServiceContext) -> RepoCreateResult:
    """Show what a real run would make sure of; nothing is touched."""
    (item,) = plan.resources
    spec = item.spec
    lines = [
        f"# Dry run: {ACTION} {item.ref.name}",
        "",
        "Nothing was touched. A real run would make sure that:",
        "",
        f"- repository `{item.ref.name}` exists, generated from `{spec['template']}`, "
        f"{'private' if spec['private'] else 'public'}",
        f"- it carries the topics {', '.join(f'`{topic}`' for topic in spec['topics'])}",
        *(f"- {note}" for note in plan.notes),
        f"- the registry names `{request.owner}` accountable for service `{request.name}`",
        "",
        "Registry tags: " + ", ".join(f"`{k}={v}`" for k, v in context.tags.items()),
    ]
    markdown = "\n".join(lines)
    get_run_logger().info(markdown)
    create_markdown_artifact(
        markdown=markdown, key=f"plan-repo-{request.name}", description="Dry run"
    )
    return RepoCreateResult(
        repository=item.ref.name,
        url="",
        service=request.name,
        owner=request.owner,
        team=request.team,
        created=False,
        changes=[],
        dry_run=True,
    )


def _report(result: RepoCreateResult) -> None:
    changes = "\n".join(f"- {change}" for change in result.changes) or "- nothing: all was in place"
    markdown = (
        f"# Repository [{result.repository}]({result.url})\n\n"
        f"| service | team | accountable owner |\n|---|---|---|\n"
        f"| {result.service} | {result.team} | {result.owner} |\n\n"
        f"## What this run changed\n\n{changes}\n\n"
        f"Ask the registry: `paved who-owns {result.repository}`\n"
    )
    create_markdown_artifact(
        markdown=markdown, key=f"repo-{result.service}", description=f"{ACTION} {result.repository}"
    )
