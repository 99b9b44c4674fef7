"""`make bench`: what orchestration costs, measured on the running local stack.

1. One `service:create` through its deployment and the worker: wall time, and the time
   spent inside provider tasks (summed from Prefect's task runs of it and its subflows).
2. The same provider calls made by a bare script (the task functions' bodies, no Prefect,
   no registry), in the same run, for another service: its wall time, and the ratio.
3. N `service:create` requests submitted at once through the deployment: total time,
   failures, and duplicates (any provider resource that exists twice).

A script, not a test: it prints figures and asserts nothing about speed.
Run it with `make bench` (which starts the stack first), or
`.venv/bin/python -m tests.perf.bench_service_create --burst 50`.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx

from paved.settings import Settings

PROVIDER_TASK_PREFIXES = ("github:", "aws:", "kafka:")
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=50, help="requests submitted at once")
    args = parser.parse_args()
    settings = Settings()
    os.environ.update(settings.prefect_env())
    stamp = datetime.now(UTC).strftime("%H%M%S")

    print(f"# Paved bench on the local stack ({settings.prefect_ui_url})\n")
    one = single_run(f"bench{stamp}")
    bare = bare_run(f"bare{stamp}")
    print(f"service:create through the deployment: {one['wall']:.1f} s wall")
    print(
        f"  inside provider tasks:                {one['provider']:.1f} s "
        f"({one['provider_tasks']} task runs)"
    )
    print(f"the same provider calls, bare script:   {bare:.1f} s")
    print(f"ratio Paved / bare:                     {one['wall'] / bare:.1f}x\n")
    burst(f"burst{stamp}", args.burst, settings)


def _request(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "team": "payments",
        "owner": "carol",
        "requester": "dave",
        "storage": ["bucket", "queue", "table"],
    }


def single_run(name: str) -> dict[str, Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterTags,
        TaskRunFilter,
        TaskRunFilterFlowRunId,
    )
    from prefect.deployments import run_deployment

    started = time.perf_counter()
    run = run_deployment(
        "service-create/service:create", parameters={"request": _request(name)}, timeout=900
    )
    wall = time.perf_counter() - started
    state = run.state.name if run.state else "?"  # type: ignore[union-attr]
    if state != "Completed":
        raise SystemExit(f"service:create {name} ended {state}; see the Prefect UI")
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"service:{name}"]))
        )
        ids = [r.id for r in runs]
        tasks = client.read_task_runs(
            task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=ids)),
            limit=200,
        )
    provider = [t for t in tasks if t.name.startswith(PROVIDER_TASK_PREFIXES)]
    return {
        "wall": wall,
        "provider": sum(t.total_run_time.total_seconds() for t in provider),
        "provider_tasks": len(provider),
    }


def bare_run(name: str) -> float:
    """The provider calls of service:create, made directly (no Prefect, no registry)."""
    from blocks import (
        AWS_BLOCK,
        GITHUB_BLOCK,
        KAFKA_BLOCK,
        AwsAccount,
        GitHubOrganization,
        KafkaCluster,
        load_block,
    )
    from flows.github_repo_create import codeowners_file
    from registry import policy
    from tasks.aws import compute, iam, storage
    from tasks.aws.policy_documents import deploy_permissions_policy, github_oidc_trust_policy
    from tasks.github import (
        BranchProtection,
        EnvironmentSpec,
        ensure_branch_protection,
        ensure_environment,
        ensure_file,
        ensure_repository_from_template,
        ensure_team_permission,
        ensure_topics,
    )
    from tasks.kafka import TopicSpec, ensure_topic

    github = load_block(GitHubOrganization, GITHUB_BLOCK)
    aws = load_block(AwsAccount, AWS_BLOCK)
    kafka = load_block(KafkaCluster, KAFKA_BLOCK)
    team, owner = "payments", "carol"
    tags = policy.policy_tags(service=name, team=team, owner=owner, cost_center="cc-200")
    app = policy.resource_name(team=team, service=name, purpose="app")
    full = f"{github.organization}/{name}"

    started = time.perf_counter()
    repo = ensure_repository_from_template.fn(
        github, name=name, description="", private=True, template=github.template_repository
    )
    ensure_topics.fn(github, full_name=full, topics=["paved", team])
    ensure_file.fn(
        github,
        full_name=full,
        path="CODEOWNERS",
        content=codeowners_file(github.organization, team),
        branch=repo.default_branch,
        message="bare",
    )
    ensure_branch_protection.fn(
        github, full_name=full, branch=repo.default_branch, protection=BranchProtection()
    )
    ensure_team_permission.fn(github, team=team, full_name=full, permission="maintain")
    ecr = compute.ensure_ecr_repository.fn(aws, name=app, tags=tags)
    cluster = compute.ensure_cluster.fn(aws)
    logs = compute.ensure_log_group.fn(
        aws, name=f"/paved/{team}/{name}", retention_days=30, tags=tags
    )
    definition = compute.ensure_task_definition.fn(
        aws,
        family=app,
        image=f"{ecr.uri}:latest",
        cpu=256,
        memory=512,
        container_port=8080,
        log_group=logs.name,
        region=aws.region,
        tags=tags,
    )
    subnets = compute.default_subnets.fn(aws)
    service = compute.ensure_service.fn(
        aws,
        cluster=cluster.name,
        name=app,
        task_definition_arn=definition.arn,
        desired_count=1,
        subnets=subnets,
        security_groups=compute.default_security_groups.fn(aws, subnets=subnets),
        tags=tags,
    )
    account_id = iam.get_account_id.fn(aws)
    provider_arn = iam.ensure_github_oidc_provider.fn(aws)
    iam.ensure_deploy_role.fn(
        aws,
        name=policy.resource_name(team=team, service=name, purpose="deploy"),
        trust_policy=github_oidc_trust_policy(provider_arn=provider_arn, repository=full),
        permissions_policy=deploy_permissions_policy(
            ecr_repository_arn=ecr.arn,
            ecs_service_arn=service.arn,
            ecs_cluster_arn=f"arn:aws:ecs:{aws.region}:{account_id}:cluster/{cluster.name}",
            task_execution_role_arn=None,
        ),
        tags=tags,
    )
    for spec in (
        EnvironmentSpec(name="staging"),
        EnvironmentSpec(name="production", reviewer_teams=[team], protected_branches_only=True),
    ):
        ensure_environment.fn(github, full_name=full, spec=spec)
    for workflow in ("ci.yml", "deploy.yml"):
        ensure_file.fn(
            github,
            full_name=full,
            path=f".github/workflows/{workflow}",
            content=f"# bare {workflow}\n",
            branch=repo.default_branch,
            message="bare",
        )
    storage.ensure_bucket.fn(
        aws, name=policy.resource_name(team=team, service=name, purpose="data"), tags=tags
    )
    storage.ensure_queue_with_dlq.fn(
        aws,
        name=policy.resource_name(team=team, service=name, purpose="jobs"),
        dlq_name=policy.resource_name(team=team, service=name, purpose="jobs-dlq"),
        tags=tags,
        visibility_timeout=30,
        max_receive_count=5,
        message_retention_seconds=4 * 86400,
    )
    storage.ensure_table.fn(
        aws,
        name=policy.resource_name(team=team, service=name, purpose="state"),
        partition_key="pk",
        tags=tags,
    )
    for event, configs in (
        ("state", {"cleanup.policy": "compact"}),
        ("events", {"cleanup.policy": "delete", "retention.ms": "604800000"}),
    ):
        ensure_topic.fn(
            kafka,
            spec=TopicSpec(
                name=policy.topic_name(domain=team, service=name, event=event),
                partitions=3,
                replication_factor=1,
                configs=configs,
            ),
            update=False,
        )
    return time.perf_counter() - started


def burst(prefix: str, count: int, settings: Settings) -> None:
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    names = [f"{prefix}n{n}" for n in range(count)]
    started = time.perf_counter()
    ids: list[UUID] = []
    for name in names:
        ids.append(_submit(run_deployment, name))
    submitted = time.perf_counter() - started
    states: dict[UUID, str] = {}
    with get_client(sync_client=True) as client:
        while len(states) < len(ids):
            for run_id in ids:
                if run_id in states:
                    continue
                state = client.read_flow_run(run_id).state
                if state is not None and state.type.value in FINAL:
                    states[run_id] = state.type.value
            time.sleep(2)
    total = time.perf_counter() - started
    outcomes = Counter(states.values())
    print(f"{count} service:create submitted at once through the deployment:")
    print(
        f"  submitted in {submitted:.1f} s; all final after {total:.1f} s "
        f"({total / count:.2f} s per service)"
    )
    print(f"  outcomes: {dict(outcomes)}; failures: {count - outcomes.get('COMPLETED', 0)}")
    print(f"  duplicates: {duplicates(settings, prefix)}")


def _submit(run_deployment: Any, name: str) -> UUID:
    """Create one run; the local SQLite-backed server answers 503 when busy: back off."""
    from prefect.exceptions import PrefectHTTPStatusError

    for attempt in range(10):
        try:
            run = run_deployment(
                "service-create/service:create", parameters={"request": _request(name)}, timeout=0
            )
            return run.id
        except PrefectHTTPStatusError as exc:
            if exc.response.status_code != 503:
                raise
            time.sleep(2 * (attempt + 1))
    raise SystemExit(f"the Prefect server stayed unavailable; {name} was not submitted")


def duplicates(settings: Settings, prefix: str) -> int:
    """Provider resources of the burst that exist more than once (by kind and name)."""
    from blocks import AWS_BLOCK, AwsAccount, load_block

    seen: Counter[tuple[str, str]] = Counter()
    state = httpx.get(f"{settings.github_url}/_fake/state", timeout=30).json()
    for repo in state["repositories"]:
        if repo["name"].startswith(prefix):
            seen[("repo", repo["name"].lower())] += 1
    aws = load_block(AwsAccount, AWS_BLOCK)
    for repo in aws.get_client("ecr").describe_repositories(maxResults=1000)["repositories"]:
        if prefix in repo["repositoryName"]:
            seen[("ecr", repo["repositoryName"])] += 1
    families = aws.get_client("ecs").list_task_definitions(familyPrefix=f"payments-{prefix}")
    for arn in families["taskDefinitionArns"]:
        seen[("task definition revision", arn.rsplit("/", 1)[-1].rsplit(":", 1)[0])] += 1
    return sum(n - 1 for n in seen.values() if n > 1)


if __name__ == "__main__":
    main()
