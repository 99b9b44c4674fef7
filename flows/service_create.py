"""`service:create` — the golden path: one request, a whole event-driven microservice.

Repository from the template -> compute (ECR + ECS Fargate) -> CI/CD pipeline (workflows,
environments, OIDC deploy role) -> the storage asked for -> Kafka topics (a compacted
state store and an events topic by default) -> ownership: the accountable owner, team,
change approver, on-call contact, cost watcher and the services it depends on.

Each step is the catalog action of the same name run as a subflow, so it is visible in
the UI, journaled on its own and re-runnable alone. A claim on `service:<name>` makes a
second concurrent run for the same name fail with a clear conflict. `cleanup_on_failure`
undoes what the failed run created (journaled); without it, re-running resumes.
"""

from __future__ import annotations

from typing import Literal

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, Field, field_validator

from flows.action_request import PavedRequest
from flows.aws_compute_create import ComputeCreateRequest, Size, aws_compute_create
from flows.aws_storage_create import StorageCreateRequest, aws_storage_create
from flows.engine.cleanup import clean_up_after_failure, existing_resources
from flows.github_pipeline_create import PipelineCreateRequest, github_pipeline_create
from flows.github_repo_create import RepoCreateRequest, github_repo_create
from flows.kafka_topics_create import TopicRequest, TopicsCreateRequest, kafka_topics_create
from flows.runtime import journaled, registry_session, request_field
from registry import policy, queries
from registry.errors import Conflict, NotFound
from registry.models import ServiceStatus

__all__ = ["ACTION", "ServiceCreateRequest", "ServiceCreateResult", "service_create"]

ACTION = "service:create"
StorageKind = Literal["bucket", "queue", "table"]


def _default_topics() -> list[TopicRequest]:
    return [
        TopicRequest(event="state", purpose="state"),
        TopicRequest(event="events", purpose="events"),
    ]


class ServiceCreateRequest(PavedRequest):
    """Create a whole service on the golden path."""

    name: str = Field(
        description="Service name (and repository name): lowercase letters, digits, hyphens.",
        examples=["orders"],
        json_schema_extra=policy.name_schema(max_length=policy.SERVICE_NAME_MAX),
    )
    team: str = Field(
        description="Slug of the owning team.",
        json_schema_extra=policy.name_schema(max_length=policy.TEAM_SLUG_MAX),
    )
    owner: str = Field(description="The one person accountable for the service; a team member.")
    description: str = Field(default="", max_length=350, description="One line about it.")
    change_approver: str | None = Field(
        default=None, description="Who approves changes; empty means the team lead."
    )
    oncall: str | None = Field(default=None, description="Who is paged; empty means the owner.")
    cost_watcher: str | None = Field(
        default=None, description="Who watches its cost; empty means the team lead."
    )
    size: Size = Field(default="small", description="Compute size (Fargate CPU/memory).")
    desired_count: int = Field(default=1, ge=0, le=10, description="Tasks to run.")
    container_port: int = Field(default=8080, ge=1, le=65535, description="Port it listens on.")
    storage: list[StorageKind] = Field(
        default_factory=list, description="Storage to create: bucket, queue (with DLQ), table."
    )
    topics: list[TopicRequest] = Field(
        default_factory=_default_topics,
        description="Kafka topics; by default a compacted state store and an events topic.",
    )
    depends_on: list[str] = Field(
        default_factory=list, description="Other services this one calls or consumes from."
    )
    region: str | None = Field(default=None, description="AWS region; empty means the default.")
    cleanup_on_failure: bool = Field(
        default=False, description="On failure, remove what this run created (journaled)."
    )

    @field_validator("name")
    @classmethod
    def _name_follows_policy(cls, value: str) -> str:
        return policy.validate_name(value, what="service name")

    @field_validator("team")
    @classmethod
    def _team_follows_policy(cls, value: str) -> str:
        return policy.validate_name(value, what="team", max_length=policy.TEAM_SLUG_MAX)

    @field_validator("description")
    @classmethod
    def _description_is_one_line(cls, value: str) -> str:
        return policy.require_one_line(value, what="description", max_len=350)

    @field_validator("storage")
    @classmethod
    def _no_repeats(cls, value: list[StorageKind]) -> list[StorageKind]:
        if len(set(value)) != len(value):
            raise ValueError("storage lists a kind twice")
        return value


class ServiceCreateResult(BaseModel):
    """The service as made."""

    service: str = Field(description="Service name.")
    team: str = Field(description="Owning team.")
    owner: str = Field(description="Accountable owner.")
    change_approver: str = Field(description="Who approves changes.")
    oncall: str = Field(description="Who is paged.")
    cost_watcher: str = Field(description="Who watches cost.")
    repository: str = Field(description="Repository URL.")
    resources: dict[str, list[str]] = Field(description="Resource names by kind.")
    depends_on: list[str] = Field(description="Services it depends on.")
    dry_run: bool = Field(description="True when nothing was touched.")


_ROLES = ("change_approver", "oncall", "cost_watcher")


def _people(request: ServiceCreateRequest) -> dict[str, str]:
    """Check everyone named and fill the defaults; before any side effect.

    The change approver must be an active member of the owning team; on-call and cost
    watcher active people. On an existing service an empty field keeps what the registry
    holds, and naming someone else (or another owner) is refused: people change only
    through service:transfer, which the current change approver approves.
    """
    with registry_session() as session:
        team = queries.require_team(session, slug=request.team)
        queries.require_active_member(
            session, team=request.team, handle=request.owner, role="owner"
        )
        queries.require_active_member(
            session, team=request.team, handle=request.requester, role="requester"
        )
        existing = queries.get_service(session, name=request.name)
        if existing is not None and existing.team.slug != request.team:
            raise Conflict(
                f"service {request.name!r} already belongs to team {existing.team.slug!r}"
            )
        # The same defaults as the registry's: the lead (the owner without an active
        # lead) approves and watches cost, the owner is paged.
        lead = team.lead.handle if team.lead is not None and team.lead.active else request.owner
        current = {"change_approver": lead, "oncall": request.owner, "cost_watcher": lead}
        if existing is not None:
            held = {
                "change_approver": existing.change_approver,
                "oncall": existing.oncall,
                "cost_watcher": existing.cost_watcher,
            }
            current |= {role: p.handle for role, p in held.items() if p is not None}
        asked = {
            "change_approver": request.change_approver,
            "oncall": request.oncall,
            "cost_watcher": request.cost_watcher,
        }
        people = {role: (asked[role] or "").strip().lower() or current[role] for role in _ROLES}
        if existing is not None:
            _refuse_changed_people(request, existing.owner.handle, current, people)
        queries.require_active_member(
            session, team=request.team, handle=people["change_approver"], role="change approver"
        )
        for role in ("oncall", "cost_watcher"):
            queries.require_active_person(session, handle=people[role], role=role.replace("_", " "))
        for other in request.depends_on:
            service = queries.get_service(session, name=other)
            if service is None or service.status == ServiceStatus.RETIRED:
                raise NotFound(f"depends_on names {other!r}, which is not a live service")
        return people


def _refuse_changed_people(
    request: ServiceCreateRequest, owner: str, current: dict[str, str], people: dict[str, str]
) -> None:
    changes = [
        f"{role.replace('_', ' ')} {current[role]} -> {people[role]}"
        for role in _ROLES
        if people[role] != current[role]
    ]
    if request.owner.strip().lower() != owner:
        changes.insert(0, f"owner {owner} -> {request.owner}")
    if changes:
        raise Conflict(
            f"service {request.name!r} exists; this request would change "
            + ", ".join(changes)
            + ". service:create does not move people: ask for service:transfer, which "
            "its change approver approves (or leave these fields empty to keep them)"
        )


@task(name="registry: write people ahead", cache_policy=NO_CACHE)
def write_people_ahead(request: ServiceCreateRequest, *, people: dict[str, str]) -> None:
    """A new service is recorded with the people the request names before any step runs,
    so a re-run of the same request after a failure finds them and converges (the steps
    keep the people the registry holds)."""
    with registry_session() as session:
        queries.get_or_create_service(
            session,
            name=request.name,
            team=request.team,
            owner=request.owner,
            description=request.description,
            **people,
        )


@task(name="registry: write ownership and dependencies", cache_policy=NO_CACHE)
def write_ownership(
    request: ServiceCreateRequest, *, people: dict[str, str]
) -> dict[str, list[str]]:
    """The final step: who answers for the service, what it depends on; returns its
    resources by kind."""
    with registry_session() as session:
        queries.set_ownership(
            session, service=request.name, owner=request.owner, team=request.team, **people
        )
        for other in request.depends_on:
            queries.add_dependency(session, service=request.name, depends_on_service=other)
        queries.set_service_status(session, name=request.name, status=ServiceStatus.ACTIVE)
        by_kind: dict[str, list[str]] = {}
        for resource in queries.find_resources(session, service=request.name):
            by_kind.setdefault(resource.kind, []).append(resource.name)
        return by_kind


def _run_name() -> str:
    return f"create-service/{request_field('team')}/{request_field('name')}"


@flow(
    name="service-create",
    flow_run_name=_run_name,
    description="service:create: the golden path, a whole event-driven microservice.",
    validate_parameters=True,
)
def service_create(request: ServiceCreateRequest) -> ServiceCreateResult:
    """Create (or converge) the service `request.name`."""
    with journaled(action=ACTION, request=request, team=request.team, service=request.name) as run:
        people = _people(request)
        if request.dry_run:
            return _dry_run(request, people)
        with registry_session() as session:
            queries.claim(
                session, key=f"service:{request.name}", holder=run.flow_run_id, action=ACTION
            )
        try:
            before = existing_resources(service=request.name)
            write_people_ahead(request, people=people)
            try:
                repository = _build(request)
            except Exception as exc:
                if request.cleanup_on_failure:
                    clean_up_after_failure(
                        action=ACTION,
                        service=request.name,
                        team=request.team,
                        requester=request.requester,
                        before=before,
                        cause=exc,
                        flow_run_id=run.flow_run_id,
                    )
                raise
            resources = write_ownership(request, people=people)
        finally:
            with registry_session() as session:
                queries.release(session, key=f"service:{request.name}", holder=run.flow_run_id)
        result = ServiceCreateResult(
            service=request.name,
            team=request.team,
            owner=request.owner,
            repository=repository,
            resources=resources,
            depends_on=request.depends_on,
            dry_run=False,
            **people,
        )
        create_markdown_artifact(
            markdown=_markdown(result), key=f"service-{request.name}", description=ACTION
        )
        return result


def _build(request: ServiceCreateRequest) -> str:
    """Run each step's action as a subflow, in dependency order; returns the repo URL."""
    requester = request.requester
    repo = github_repo_create(
        request=RepoCreateRequest(
            name=request.name,
            team=request.team,
            owner=request.owner,
            description=request.description,
            requester=requester,
        )
    )
    aws_compute_create(
        request=ComputeCreateRequest(
            service=request.name,
            size=request.size,
            desired_count=request.desired_count,
            container_port=request.container_port,
            region=request.region,
            requester=requester,
        )
    )
    github_pipeline_create(
        request=PipelineCreateRequest(
            service=request.name, region=request.region, requester=requester
        )
    )
    if request.storage:
        aws_storage_create(
            request=StorageCreateRequest(
                service=request.name,
                bucket="bucket" in request.storage,
                queue="queue" in request.storage,
                table="table" in request.storage,
                region=request.region,
                requester=requester,
            )
        )
    if request.topics:
        kafka_topics_create(
            request=TopicsCreateRequest(
                service=request.name, topics=request.topics, requester=requester
            )
        )
    return repo.url


def _dry_run(request: ServiceCreateRequest, people: dict[str, str]) -> ServiceCreateResult:
    name, team = request.name, request.team
    app = policy.resource_name(team=team, service=name, purpose="app")
    planned: dict[str, list[str]] = {
        "github_repository": [name],
        "ecr_repository": [app],
        "ecs_service": [app],
        "cloudwatch_log_group": [f"/paved/{team}/{name}"],
        "iam_role": [policy.resource_name(team=team, service=name, purpose="deploy")],
        "github_environment": ["staging", "production"],
        "kafka_topic": [
            policy.topic_name(domain=team, service=name, event=t.event) for t in request.topics
        ],
    }
    purposes = {
        "bucket": ("s3_bucket", "data"),
        "queue": ("sqs_queue", "jobs"),
        "table": ("dynamodb_table", "state"),
    }
    for kind in request.storage:
        registry_kind, purpose = purposes[kind]
        planned.setdefault(registry_kind, []).append(
            policy.resource_name(team=team, service=name, purpose=purpose)
        )
    tags = policy.policy_tags(service=name, team=team, owner=request.owner, cost_center="(team's)")
    lines = [f"# Dry run: {ACTION} {name}", "", "Nothing was touched. A real run would make:", ""]
    lines += [f"- {kind}: " + ", ".join(f"`{n}`" for n in names) for kind, names in planned.items()]
    lines += [
        "",
        "Ownership: "
        + ", ".join(f"{k} `{v}`" for k, v in {"owner": request.owner, **people}.items()),
    ]
    lines += ["", "Tags on every taggable resource: " + ", ".join(f"`{k}`" for k in tags)]
    markdown = "\n".join(lines)
    get_run_logger().info(markdown)
    create_markdown_artifact(markdown=markdown, key=f"plan-service-{name}", description="Dry run")
    return ServiceCreateResult(
        service=name,
        team=team,
        owner=request.owner,
        repository="",
        resources=planned,
        depends_on=request.depends_on,
        dry_run=True,
        **people,
    )


def _markdown(result: ServiceCreateResult) -> str:
    rows = "\n".join(
        f"| {kind} | {', '.join(f'`{n}`' for n in names)} |"
        for kind, names in result.resources.items()
    )
    return (
        f"# Service {result.service}\n\n"
        f"Repository: [{result.repository}]({result.repository})\n\n"
        "| owner | team | change approver | on-call | cost watcher |\n|---|---|---|---|---|\n"
        f"| {result.owner} | {result.team} | {result.change_approver} | {result.oncall} | "
        f"{result.cost_watcher} |\n\n"
        f"| kind | resources |\n|---|---|\n{rows}\n\n"
        f"Depends on: {', '.join(result.depends_on) or 'nothing'}\n\n"
        f"Ask the registry: `paved who-owns {result.service}`\n"
    )
