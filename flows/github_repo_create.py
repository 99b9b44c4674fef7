"""`github:repo:create` — a repository from the golden-path template, owned and protected.

The run: validate (policy, team, people) -> write ahead (service and repository as
`provisioning`) -> GitHub (repository from template, topics, CODEOWNERS, branch protection,
team permission) -> ownership (resource and service `active`) -> a markdown artifact.
Re-running a request that completed changes nothing; one that failed half-way resumes.
A re-run naming another owner is refused: ownership moves only by service:transfer.
"""

from __future__ import annotations

from importlib import resources

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel, Field, field_validator

from blocks import GITHUB_BLOCK, GitHubOrganization, load_block
from flows.action_request import PavedRequest
from flows.registry_steps import ResourceRef, record_active, record_failure, write_ahead
from flows.runtime import journaled, registry_session, request_field
from registry import policy, queries
from registry.errors import Conflict
from registry.models import Provider
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

__all__ = ["ACTION", "RepoCreateRequest", "RepoCreateResult", "github_repo_create"]

ACTION = "github:repo:create"
RESOURCE_KIND = "github_repository"
TEAM_PERMISSION = "maintain"


class RepoCreateRequest(PavedRequest):
    """Create a GitHub repository for a service from the organization's template."""

    name: str = Field(
        description=(
            "Repository name, also the service name: lowercase letters, digits and single "
            f"hyphens, starting with a letter, at most {policy.SERVICE_NAME_MAX} characters."
        ),
        examples=["orders"],
        json_schema_extra=policy.name_schema(max_length=policy.SERVICE_NAME_MAX),
    )
    team: str = Field(
        description="Slug of the team that owns the service, e.g. `payments`.",
        json_schema_extra=policy.name_schema(max_length=policy.TEAM_SLUG_MAX),
    )
    owner: str = Field(
        description="GitHub handle of the one person accountable for the service; a team member."
    )
    description: str = Field(default="", max_length=350, description="One line about the service.")
    private: bool = Field(default=True, description="Whether the repository is private.")
    template: str | None = Field(
        default=None,
        description="Template repository in the organization; empty means its default.",
    )

    @field_validator("name")
    @classmethod
    def _name_follows_policy(cls, value: str) -> str:
        return policy.validate_name(value, what="repository name")

    @field_validator("description")
    @classmethod
    def _description_is_one_line(cls, value: str) -> str:
        return policy.require_one_line(value, what="description", max_len=350)

    @field_validator("team")
    @classmethod
    def _team_follows_policy(cls, value: str) -> str:
        return policy.validate_name(value, what="team", max_length=policy.TEAM_SLUG_MAX)


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


def codeowners_file(organization: str, team: str) -> str:
    """The CODEOWNERS file naming `team` as owner of everything in the repository."""
    template = resources.files("flows").joinpath("templates/CODEOWNERS").read_text()
    return template.format(organization=organization, team=team)


def _validate(request: RepoCreateRequest, github: GitHubOrganization) -> None:
    """Every check that can fail before a side effect does."""
    full_name = f"{github.organization}/{request.name}"
    with registry_session() as session:
        queries.require_team(session, slug=request.team)
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
    logger = get_run_logger()
    github = load_block(GitHubOrganization, GITHUB_BLOCK)
    full_name = f"{github.organization}/{request.name}"
    template = request.template or github.template_repository
    with journaled(action=ACTION, request=request, team=request.team, service=request.name):
        _validate(request, github)
        with registry_session() as session:
            team = queries.require_team(session, slug=request.team)
            cost_center = team.cost_center
        tags = policy.policy_tags(
            service=request.name, team=request.team, owner=request.owner, cost_center=cost_center
        )
        spec = {
            "template": f"{github.organization}/{template}",
            "private": request.private,
            "topics": ["paved", request.team],
            "codeowners": f"@{github.organization}/{request.team}",
            "default_branch": github.default_branch,
            "branch_protection": BranchProtection().model_dump(),
            "team_permission": {request.team: TEAM_PERMISSION},
        }
        if request.dry_run:
            return _dry_run(request, full_name=full_name, spec=spec, tags=tags)

        ref = ResourceRef(
            service=request.name, provider=Provider.GITHUB, kind=RESOURCE_KIND, name=full_name
        )
        write_ahead(
            ref,
            team=request.team,
            owner=request.owner,
            description=request.description,
            spec=spec,
            tags=tags,
        )
        try:
            repo, changes = _provision(request, github, template=template, full_name=full_name)
        except Exception as exc:
            record_failure(ref, error=str(exc))
            raise
        record_active(
            ref,
            team=request.team,
            owner=request.owner,
            external_id=repo.full_name,
            url=repo.html_url,
            spec=spec,
            tags=tags,
        )
        result = RepoCreateResult(
            repository=repo.full_name,
            url=repo.html_url,
            service=request.name,
            owner=request.owner,
            team=request.team,
            created=repo.created,
            changes=changes,
            dry_run=False,
        )
        _report(result)
        logger.info(
            "%s %s for team %s, owner %s",
            "Created" if repo.created else "Converged",
            repo.html_url,
            request.team,
            request.owner,
        )
        return result


def _provision(
    request: RepoCreateRequest, github: GitHubOrganization, *, template: str, full_name: str
) -> tuple[RepositoryInfo, list[str]]:
    """The GitHub side effects, each idempotent; returns the repository and what changed."""
    changes: list[str] = []
    repo = ensure_repository_from_template(
        github,
        name=request.name,
        description=request.description,
        private=request.private,
        template=template,
    )
    if repo.created:
        changes.append(f"created {full_name} from {github.organization}/{template}")
    if ensure_topics(github, full_name=full_name, topics=["paved", request.team]):
        changes.append("set topics paved, " + request.team)
    if ensure_file(
        github,
        full_name=full_name,
        path="CODEOWNERS",
        content=codeowners_file(github.organization, request.team),
        branch=repo.default_branch,
        message=f"Paved: {request.team} owns {request.name}",
    ):
        changes.append(f"committed CODEOWNERS naming @{github.organization}/{request.team}")
    if ensure_branch_protection(
        github, full_name=full_name, branch=repo.default_branch, protection=BranchProtection()
    ):
        changes.append(f"protected branch {repo.default_branch}")
    if ensure_team_permission(
        github, team=request.team, full_name=full_name, permission=TEAM_PERMISSION
    ):
        changes.append(f"gave team {request.team} {TEAM_PERMISSION}")
    return repo, changes


def _dry_run(
    request: RepoCreateRequest, *, full_name: str, spec: dict[str, object], tags: dict[str, str]
) -> RepoCreateResult:
    lines = [
        f"# Dry run: {ACTION} {full_name}",
        "",
        "Nothing was touched. A real run would make sure that:",
        "",
        f"- repository `{full_name}` exists, generated from `{spec['template']}`, "
        f"{'private' if request.private else 'public'}",
        f"- it carries the topics `paved`, `{request.team}`",
        f"- `CODEOWNERS` names `{spec['codeowners']}`",
        f"- branch `{spec['default_branch']}` requires a code-owner review",
        f"- team `{request.team}` has `{TEAM_PERMISSION}`",
        f"- the registry names `{request.owner}` accountable for service `{request.name}`",
        "",
        "Registry tags: " + ", ".join(f"`{k}={v}`" for k, v in tags.items()),
    ]
    markdown = "\n".join(lines)
    get_run_logger().info(markdown)
    create_markdown_artifact(
        markdown=markdown, key=f"plan-repo-{request.name}", description="Dry run"
    )
    return RepoCreateResult(
        repository=full_name,
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
