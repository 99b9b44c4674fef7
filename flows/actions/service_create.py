"""`service:create` — the golden path: one request, a whole event-driven microservice.

Repository from the template, compute (ECR + ECS Fargate), CI/CD pipeline (workflows,
environments, OIDC deploy role), the storage asked for, Kafka topics (a compacted state
store and an events topic by default), then ownership: the accountable owner, team,
change approver, on-call contact, cost watcher and the services it depends on.

Each part is the plan of the catalog action of the same name (`repo_plan`,
`compute_plan`, `pipeline_plan`, `storage_plan`, `topics_plan`), and the run applies
their union with the one engine: one write-ahead, every resource's ensure task as soon
as what it needs exists (compute, storage and topics beside the repository), one write
of the outcome. Every step still shows by name in the run; each part stays its own
catalog action, re-runnable alone. A claim on `service:<name>` (and each part's claim)
makes a second concurrent run for the same name fail with a clear conflict.
`cleanup_on_failure` undoes what the failed run created (journaled); without it,
re-running resumes.
"""

from __future__ import annotations

from collections.abc import Mapping

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, Field

from blocks import (
    GitHubOrganization,
    KafkaCluster,
)
from flows.actions.aws_compute_create import (
    ComputeCreateRequest,
    compute_ensurers,
    compute_plan,
)
from flows.actions.aws_storage_create import StorageCreateRequest, storage_ensurers, storage_plan
from flows.actions.github_pipeline_create import (
    PipelineCreateRequest,
    pipeline_ensurers,
    pipeline_plan,
)
from flows.actions.github_repo_create import (
    RESOURCE_KIND as REPOSITORY_KIND,
)
from flows.actions.github_repo_create import (
    RepoCreateRequest,
    check_request,
    repo_ensurers,
    repo_plan,
)
from flows.actions.kafka_topics_create import RESOURCE_KIND as TOPIC_KIND
from flows.actions.kafka_topics_create import (
    TopicResult,
    TopicsCreateRequest,
    refuse_foreign_topics,
    topic_spec,
    topics_ensurers,
    topics_plan,
)
from flows.engine.action import allowed_region
from flows.engine.apply import Ensure, apply_plan, by_key
from flows.engine.cleanup import clean_up_after_failure, existing_resources
from flows.engine.context import ServiceContext
from flows.engine.plan import Plan, render, union
from flows.engine.providers import Providers
from flows.engine.runtime import journaled, request_field
from flows.engine.session import registry_session
from flows.request_models.service_create import ServiceCreateRequest
from registry import queries
from registry.domains import require_topic_domain
from registry.errors import Conflict, NotFound
from registry.models import ServiceStatus
from tasks.aws.iam import get_account_id

__all__ = [
    "ACTION",
    "ServiceCreateRequest",
    "ServiceCreateResult",
    "service_create",
    "service_plan",
]

ACTION = "service:create"


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


def _parts(
    request: ServiceCreateRequest,
) -> tuple[
    RepoCreateRequest,
    ComputeCreateRequest,
    PipelineCreateRequest,
    StorageCreateRequest | None,
    TopicsCreateRequest | None,
]:
    """The catalog actions' requests this one stands for."""
    requester = request.requester
    storage = (
        StorageCreateRequest(
            service=request.name,
            bucket="bucket" in request.storage,
            queue="queue" in request.storage,
            table="table" in request.storage,
            region=request.region,
            requester=requester,
        )
        if request.storage
        else None
    )
    topics = (
        TopicsCreateRequest(service=request.name, topics=request.topics, requester=requester)
        if request.topics
        else None
    )
    return (
        RepoCreateRequest(
            name=request.name,
            team=request.team,
            owner=request.owner,
            description=request.description,
            requester=requester,
        ),
        ComputeCreateRequest(
            service=request.name,
            size=request.size,
            desired_count=request.desired_count,
            container_port=request.container_port,
            region=request.region,
            requester=requester,
        ),
        PipelineCreateRequest(service=request.name, region=request.region, requester=requester),
        storage,
        topics,
    )


def service_plan(
    request: ServiceCreateRequest,
    context: ServiceContext,
    providers: Providers,
    *,
    account_id: str,
    region: str,
    seen_topics: dict[str, TopicResult],
) -> tuple[Plan, dict[str, Ensure]]:
    """The union of the parts' plans, and each resource's ensurer. Pure but for the
    blocks' settings: the provider reads (account id, foreign topics) come before."""
    repo, compute, pipeline, storage, topics = _parts(request)
    github, aws, kafka = providers.github, providers.aws, providers.kafka
    in_region = aws.in_region(region)
    tags = context.tags
    parts: list[tuple[Plan, Mapping[str, Ensure]]] = [
        (repo_plan(repo, github), repo_ensurers(github, description=request.description)),
        (
            compute_plan(compute, context, cluster=aws.ecs_cluster, region=region),
            compute_ensurers(in_region, tags),
        ),
        (
            pipeline_plan(
                pipeline,
                context,
                account_id=account_id,
                region=region,
                cluster=aws.ecs_cluster,
                github_org=github.organization,
                repository=None,  # planned by the repository part
            ),
            pipeline_ensurers(github, aws, tags),
        ),
    ]
    if storage is not None:
        parts.append((storage_plan(storage, context, region), storage_ensurers(in_region, tags)))
    if topics is not None:
        parts.append(
            (
                topics_plan(topics, context, kafka),
                topics_ensurers(kafka, update=False, seen=seen_topics),
            )
        )
    ensure: dict[str, Ensure] = {}
    for part, ensurers in parts:
        ensure |= by_key(part, ensurers)
    return union(ACTION, request.name, [part for part, _ in parts]), ensure


def _context(
    request: ServiceCreateRequest, github: GitHubOrganization, people: dict[str, str]
) -> ServiceContext:
    """The service as its parts see it: the repository part's checks (team, members,
    never adopt a repository), with the people this request settles."""
    repo = _parts(request)[0]
    context = check_request(repo, github)
    return context.model_copy(
        update={"change_approver": people["change_approver"], "oncall": people["oncall"]}
    )


def _refuse_foreign(
    request: ServiceCreateRequest, context: ServiceContext, plan: Plan, kafka: KafkaCluster
) -> None:
    """The topics part's checks before any side effect: the domain is the team's, and no
    requested topic exists as another's."""
    with registry_session() as session:
        require_topic_domain(session, team=context.team, domain=context.team)
    specs = [topic_spec(item) for item in plan.resources if item.ref.kind == TOPIC_KIND]
    if specs:
        refuse_foreign_topics(request.name, kafka, specs)


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
        providers = Providers()
        region = allowed_region(request.region, providers.aws)
        context = _context(request, providers.github, people)
        plan, ensure = service_plan(
            request,
            context,
            providers,
            account_id=get_account_id(providers.aws),
            region=region,
            seen_topics={},
        )
        _refuse_foreign(request, context, plan, providers.kafka)
        if request.dry_run:
            return _dry_run(request, people, plan, context, region)
        with registry_session() as session:
            queries.claim(
                session, key=f"service:{request.name}", holder=run.flow_run_id, action=ACTION
            )
        try:
            before = existing_resources(service=request.name)
            write_people_ahead(request, people=people)
            try:
                applied = apply_plan(
                    plan, context=context, ensure=ensure, flow_run_id=run.flow_run_id
                )
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
        repository = next(done for item, done in applied if item.ref.kind == REPOSITORY_KIND)
        result = ServiceCreateResult(
            service=request.name,
            team=request.team,
            owner=request.owner,
            repository=repository.url or "",
            resources=resources,
            depends_on=request.depends_on,
            dry_run=False,
            **people,
        )
        create_markdown_artifact(
            markdown=_markdown(result), key=f"service-{request.name}", description=ACTION
        )
        return result


def _dry_run(
    request: ServiceCreateRequest,
    people: dict[str, str],
    plan: Plan,
    context: ServiceContext,
    region: str,
) -> ServiceCreateResult:
    """The union plan rendered, with who will answer for the service; touches nothing."""
    planned: dict[str, list[str]] = {}
    for item in plan.resources:
        planned.setdefault(item.ref.kind, []).append(item.ref.name)
    markdown = render(
        plan, region=region, owner=request.owner, team=request.team, tags=context.tags
    )
    markdown += "\n\nOwnership: " + ", ".join(
        f"{k} `{v}`" for k, v in {"owner": request.owner, **people}.items()
    )
    get_run_logger().info(markdown)
    create_markdown_artifact(
        markdown=markdown, key=f"plan-service-{request.name}", description="Dry run"
    )
    return ServiceCreateResult(
        service=request.name,
        team=request.team,
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
