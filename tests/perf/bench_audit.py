"""How fast `audit:drift` audits a large estate, and how many provider calls it makes.

Starts its own servers on free ports (moto with the sandbox's extensions, a Tansu broker
behind a request-counting proxy, the fake GitHub in a thread, a Prefect test harness) and
a fresh registry (SQLite in a temporary directory, or the EMPTY PostgreSQL database
`--postgres-url` names), then:

1. One real `service:create` (bucket, queue, table; default topics) makes the pattern
   service: whatever the flows write to the registry for a golden-path service (declared
   specs, policy tags, external ids) is what every other service gets.
2. Clones of it, enough for `--resources` registered resources of the kinds the audit
   lists (11 per service: repository, bucket, queue and DLQ, table, ECR repository, log
   group, ECS service, deploy role, two topics; the workflows, environments and task
   definition the golden path also registers are cloned too, but no inventory lists
   them). Registry rows are bulk-inserted, spread over 20 teams and their people. Each
   resource is created from its declared spec: repositories straight into the fake's
   state (its /_fake/seed seam takes people and teams, not repositories), topics with
   batched CreateTopics, AWS resources with boto3 in a thread pool.
3. Known drift, 10 of each class: unmanaged, missing, changed, mistagged, ownerless; and
   five changes worth finding, each `changed`: a bucket made public (access block
   removed, a public policy), a bucket's encryption removed, a table's billing mode
   changed, an inline policy added to a deploy role, a managed policy attached to one.
4. One `audit_drift(request={"requester": "paved-audit"})`, timed end to end, with the
   retry delays of production (PAVED_RETRY_DELAY_SCALE, which the test suite sets, is
   removed before anything reads it).

It prints wall time, resources listed and provider calls per provider, calls per resource
and where the run's time went (from its flow and task run records: listing, detect and
store, telling the owners through a webhook sink, the rest), next to the targets: under
30 s, at most one provider call per 50 resources. Calls are counted twice: by the audit
(`calls`) and where they arrive (`calls_server`): moto's request count
(sandbox.moto_server, `/_sandbox/requests`), the fake GitHub's request journal, and a
proxy before the broker counting Kafka request frames by API key (tests/perf/
kafka_counter.py). ECS ListServices pages as on AWS (sandbox.moto_ext), so the AWS count
is what AWS would see. Seeding time is printed apart. A script, not a test: it asserts
nothing about speed, but it exits 1 when the audit did not find exactly the drift made
(plus what Paved itself registers without a service: the shared GitHub OIDC provider),
missed any of the changes worth finding, or counted its calls otherwise than they
arrived: a fast audit that misses drift, or a figure nobody can check, is worthless.

    .venv/bin/python -m tests.perf.bench_audit [--resources 10000] [--postgres-url URL]
        [--json FILE]
"""

from __future__ import annotations

import os
import tempfile

# Prefect reads its settings when imported: the environment comes first.
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="paved-bench-audit-prefect-"))
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# No retry-delay shortcut: the audit is timed with the backoff it has in production
# (tests/conftest.py shrinks it for the test suite, not for figures).
# Popped before tasks.retries is imported: it reads the scale into its task options.
os.environ.pop("PAVED_RETRY_DELAY_SCALE", None)

import argparse
import dataclasses
import json
import math
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import yaml
from confluent_kafka.admin import (
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterFlowRunId
from prefect.testing.utilities import prefect_test_harness
from prefect_aws.client_parameters import AwsClientParameters
from prefect_aws.credentials import AwsCredentials
from pydantic import SecretStr
from sqlalchemy import Engine, insert, select

from blocks import (
    AWS_BLOCK,
    GITHUB_BLOCK,
    KAFKA_BLOCK,
    REGISTRY_BLOCK,
    AwsAccount,
    GitHubOrganization,
    KafkaCluster,
    RegistryDatabase,
)
from flows.actions.service_create import service_create
from flows.audits.drift import DriftAuditResult, audit_drift
from registry import queries
from registry.db import make_engine, migrate, session_scope
from registry.findings import list_findings
from registry.models import Person, Resource, ResourceStatus, Service, ServiceStatus, Team
from registry.seed import SeedData, apply_seed
from sandbox.fake_github import FakeGitHubControl, GitHubState, serve_in_thread
from sandbox.fake_github.protection import BranchProtection
from sandbox.launch import DEFAULT_SEED_FILE, LaunchSpec, moto, tansu, webhook_sink
from sandbox.moto_server import REQUESTS_PATH
from tasks.audit import aws_inventory, github_inventory, kafka_inventory
from tasks.aws import tag_list
from tasks.aws.compute import CONTAINER_NAME
from tasks.aws.iam import DEPLOY_POLICY_NAME
from tasks.notify import notify, save_webhook_channel
from tests.conftest import free_port
from tests.perf.kafka_counter import KafkaRequestCounter
from tests.servers import running

PREFECT_HOME_PREFIX = "paved-bench-audit-prefect-"  # a home made above: removed at the end
TARGET_SECONDS = 30.0
TARGET_RESOURCES_PER_CALL = 50
DRIFT_PER_CLASS = 10
WORTH_FINDING = 5  # services given the drift `Drifter.worth_finding` makes
ADMINISTRATOR_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"
TEAMS = 20
PEOPLE_PER_TEAM = 10
AWS_WORKERS = 8
TOPIC_BATCH = 200
ORGANIZATION = "acme"
# The pattern service, made by service:create in the sandbox's own team. Its name, team,
# owner and cost center appear nowhere else in what the flows write, so replacing them
# makes another service's rows.
PATTERN = {"service": "golden", "team": "payments", "owner": "dave", "cost_center": "cc-200"}
LEAVER = "leaver"
AUDITED_KINDS = frozenset({github_inventory.KIND, kafka_inventory.KIND, *aws_inventory.KINDS})
# Registered by the golden path, listed by no inventory: cloned in the registry (and the
# task definition made in AWS all the same: its ECS service needs it).
UNLISTED_KINDS = frozenset({"github_workflow", "github_environment", "ecs_task_definition"})
INVENTORY_TASKS = {
    "github": github_inventory.github_inventory.name,
    "aws": aws_inventory.list_aws_resources_task.name,
    "kafka": kafka_inventory.list_topics_for_audit_task.name,
}
NOTIFY_TASK = notify.name
Row = dict[str, Any]


# --- the world: servers, registry, blocks ---------------------------------------------


@dataclass
class Stack:
    """The servers one run of the benchmark talks to."""

    registry_url: str
    engine: Engine
    github: GitHubState
    account: AwsAccount
    cluster: KafkaCluster
    sink_url: str
    people: list[str]
    arrivals: Arrivals


@dataclass
class Arrivals:
    """Where each provider's calls are counted as they arrive: moto's request count
    (sandbox.moto_server), the fake GitHub's request journal, a proxy before the broker."""

    moto_url: str
    github: FakeGitHubControl
    kafka: KafkaRequestCounter

    def reset(self) -> None:
        httpx.post(f"{self.moto_url}{REQUESTS_PATH}/reset", timeout=10).raise_for_status()
        self.github.clear_requests()
        self.kafka.reset()

    def read(self) -> ServerCounts:
        aws = httpx.get(f"{self.moto_url}{REQUESTS_PATH}", timeout=10)
        aws.raise_for_status()
        return ServerCounts(
            aws=aws.json(),
            github=[f"{r['method']} {r['path']}" for r in self.github.requests()],
            kafka=self.kafka.counts(),
        )


@dataclass
class ServerCounts:
    """What arrived at each provider during the timed run."""

    aws: dict[str, Any]  # {"total", "services", "operations"}
    github: list[str]  # "METHOD path" per request
    kafka: dict[str, int]  # by API name

    def totals(self) -> dict[str, int]:
        return {
            "github": len(self.github),
            "aws": int(self.aws["total"]),
            "kafka": sum(self.kafka.values()),
        }


def tansu_behind(counter: KafkaRequestCounter, port: int) -> LaunchSpec:
    """Tansu on `port`, advertising the counting proxy's address: a client that follows
    the Metadata answer comes back through the proxy, not around it."""
    spec = tansu(host="127.0.0.1", port=port)
    argv = list(spec.argv)
    host, proxy_port = counter.address
    argv[argv.index("--advertised-listener-url") + 1] = f"tcp://{host}:{proxy_port}"
    return dataclasses.replace(spec, argv=tuple(argv))


def bench_seed() -> dict[str, Any]:
    """The sandbox seed plus TEAMS teams of PEOPLE_PER_TEAM people (their first one leads);
    LEAVER is in every team and owns the services that become ownerless."""
    seed: dict[str, Any] = yaml.safe_load(DEFAULT_SEED_FILE.read_text())
    seed["people"].append({"handle": LEAVER, "name": "Lee Leaver", "email": "lee@acme.example"})
    for t in range(1, TEAMS + 1):
        handles = [f"dev{t:02d}{p}" for p in range(PEOPLE_PER_TEAM)]
        seed["people"] += [
            {"handle": h, "name": f"Dev {h}", "email": f"{h}@acme.example"} for h in handles
        ]
        seed["teams"].append(
            {
                "slug": f"squad{t:02d}",
                "name": f"Squad {t}",
                "lead": handles[0],
                "members": [*handles, LEAVER],
                "cost_center": f"cc-{300 + t}",
            }
        )
    return seed


@contextmanager
def stack(registry_url: str) -> Iterator[Stack]:
    """Every server started, the registry migrated and seeded, the blocks saved."""
    seed = bench_seed()
    migrate(registry_url)
    engine = make_engine(registry_url)
    with session_scope(engine) as session:
        if session.scalars(select(Service.id).limit(1)).first() is not None:
            raise SystemExit(f"the registry at {engine.url!r} is not empty: give an EMPTY one")
        apply_seed(session, seed=SeedData.model_validate(seed))
    moto_port, kafka_port, sink_port = free_port(), free_port(), free_port()
    with ExitStack() as servers:
        servers.enter_context(running(moto(host="127.0.0.1", port=moto_port)))
        kafka_counter = KafkaRequestCounter(("127.0.0.1", kafka_port))
        servers.enter_context(running(tansu_behind(kafka_counter, kafka_port)))
        kafka_counter.start()
        servers.callback(kafka_counter.stop)
        servers.enter_context(running(webhook_sink(host="127.0.0.1", port=sink_port)))
        servers.enter_context(prefect_test_harness(server_startup_timeout=120))
        github = serve_in_thread(free_port())
        servers.callback(github.stop)
        github_control = FakeGitHubControl(github.url)
        github_control.seed(seed)
        account = AwsAccount(
            credentials=AwsCredentials(
                aws_access_key_id="testing",
                aws_secret_access_key=SecretStr("testing"),
                region_name="us-east-1",
                aws_client_parameters=AwsClientParameters(
                    endpoint_url=f"http://127.0.0.1:{moto_port}"
                ),
            )
        )
        account.save(AWS_BLOCK, overwrite=True)
        proxy_host, proxy_port = kafka_counter.address
        cluster = KafkaCluster(bootstrap_servers=f"{proxy_host}:{proxy_port}")
        cluster.save(KAFKA_BLOCK, overwrite=True)
        GitHubOrganization(
            api_url=github.url,
            organization=ORGANIZATION,
            token=SecretStr("bench-token"),
            seconds_between_requests=0,
            seconds_between_writes=0,
        ).save(GITHUB_BLOCK, overwrite=True)
        RegistryDatabase(url=SecretStr(registry_url)).save(REGISTRY_BLOCK, overwrite=True)
        try:
            yield Stack(
                registry_url,
                engine,
                github.state,
                account,
                cluster,
                sink_url=f"http://127.0.0.1:{sink_port}",
                people=[person["handle"] for person in seed["people"]],
                arrivals=Arrivals(
                    moto_url=f"http://127.0.0.1:{moto_port}",
                    github=github_control,
                    kafka=kafka_counter,
                ),
            )
        finally:
            engine.dispose()


def give_channels(world: Stack) -> None:
    """A webhook channel on the sink for everyone: the audit's messages to owners are part
    of its work."""
    with session_scope(world.engine) as session:
        for handle in world.people:
            channel = save_webhook_channel(handle=handle, url=f"{world.sink_url}/hooks/{handle}")
            queries.set_notify_channel(session, handle=handle, channel=channel)


# --- the estate: one real service:create, then clones of it ---------------------------


@dataclass
class Clone:
    """One service made from the pattern, and its registry rows."""

    name: str
    team: str
    owner: str
    cost_center: str
    rows: list[Row] = field(default_factory=list)

    def row(self, kind: str, purpose: str | None = None) -> Row:
        """Its resource of `kind` (for topics and queues, the one whose spec has `purpose`
        as its purpose, or whose name ends with it)."""
        for row in self.rows:
            if row["kind"] != kind:
                continue
            if purpose is None or row["spec"].get("purpose") == purpose:
                return row
            if row["name"].endswith(purpose):
                return row
        raise LookupError(f"{self.name} has no {kind} {purpose or ''}")


def retarget(value: Any, replacements: Mapping[str, str]) -> Any:
    """`value` with every string (and mapping key) rewritten by `replacements`."""
    if isinstance(value, str):
        for old, new in replacements.items():
            value = value.replace(old, new)
        return value
    if isinstance(value, dict):
        return {retarget(k, replacements): retarget(v, replacements) for k, v in value.items()}
    if isinstance(value, list):
        return [retarget(item, replacements) for item in value]
    return value


def make_pattern() -> None:
    """The golden-path service, made by the real flow."""
    state = service_create(
        request={
            "name": PATTERN["service"],
            "team": PATTERN["team"],
            "owner": PATTERN["owner"],
            "requester": PATTERN["owner"],
            "storage": ["bucket", "queue", "table"],
        },
        return_state=True,
    )
    if not state.is_completed():
        raise SystemExit(f"service:create of the pattern service failed: {state.message}")


def pattern_rows(engine: Engine) -> list[Row]:
    """The pattern service's resources as the flows registered them."""
    columns = ("provider", "kind", "name", "external_id", "url", "spec", "tags")
    with session_scope(engine) as session:
        service = queries.require_service(session, name=PATTERN["service"])
        resources = session.scalars(
            select(Resource).where(Resource.service_id == service.id).order_by(Resource.id)
        )
        rows = [{column: getattr(r, column) for column in columns} for r in resources]
    unknown = {r["kind"] for r in rows} - AUDITED_KINDS - UNLISTED_KINDS
    if unknown:
        raise SystemExit(f"the golden path registers kinds this bench cannot make: {unknown}")
    return rows


def plan_clones(count: int, engine: Engine, pattern: list[Row]) -> list[Clone]:
    """`count` services spread over the bench teams; the first DRIFT_PER_CLASS belong to
    LEAVER (who leaves: they become ownerless)."""
    with session_scope(engine) as session:
        teams = session.execute(
            select(Team.slug, Team.cost_center).where(Team.slug.like("squad%")).order_by(Team.slug)
        ).all()
    clones = []
    for i in range(count):
        slug, cost_center = teams[i % len(teams)]
        number = int(slug.removeprefix("squad"))
        owner = (
            LEAVER if i < DRIFT_PER_CLASS else f"dev{number:02d}{(i // TEAMS) % PEOPLE_PER_TEAM}"
        )
        clone = Clone(name=f"svc{i:05d}", team=slug, owner=owner, cost_center=cost_center)
        replacements = {
            PATTERN["service"]: clone.name,
            PATTERN["team"]: clone.team,
            PATTERN["owner"]: clone.owner,
            PATTERN["cost_center"]: clone.cost_center,
        }
        clone.rows = [retarget(row, replacements) for row in pattern]
        clones.append(clone)
    return clones


def register(engine: Engine, clones: list[Clone]) -> int:
    """Bulk-insert the services (owner, team lead approving and watching cost, owner on
    call: service:create's defaults) and their resources, active; returns resources."""
    with session_scope(engine) as session:
        people = dict(session.execute(select(Person.handle, Person.id)).all())
        teams = {
            slug: (team_id, lead_id)
            for slug, team_id, lead_id in session.execute(select(Team.slug, Team.id, Team.lead_id))
        }
        session.execute(
            insert(Service),
            [
                {
                    "name": c.name,
                    "team_id": teams[c.team][0],
                    "owner_id": people[c.owner],
                    "change_approver_id": teams[c.team][1],
                    "oncall_id": people[c.owner],
                    "cost_watcher_id": teams[c.team][1],
                    "status": ServiceStatus.ACTIVE,
                }
                for c in clones
            ],
        )
        ids = dict(session.execute(select(Service.name, Service.id)).all())
        rows = [
            {**row, "service_id": ids[c.name], "status": ResourceStatus.ACTIVE}
            for c in clones
            for row in c.rows
        ]
        for first in range(0, len(rows), 5_000):
            session.execute(insert(Resource), rows[first : first + 5_000])
    return len(rows)


def make_repositories(state: GitHubState, clones: list[Clone]) -> None:
    """Each clone's repository as service:create leaves it: from the template, private as
    declared, its topics, and the pattern's branch protection."""
    pattern = state.get_repository(ORGANIZATION, PATTERN["service"])
    protection: BranchProtection = state.get_protection(pattern, pattern.default_branch)
    for clone in clones:
        row = clone.row(github_inventory.KIND)
        owner, template = row["spec"]["template"].split("/")
        repository = state.generate_repository(
            owner,
            template,
            owner=ORGANIZATION,
            name=row["name"].split("/")[1],
            private=row["spec"]["private"],
        )
        state.replace_topics(repository, row["spec"]["topics"])
        state.set_protection(repository, row["spec"]["default_branch"], protection)


def make_topics(cluster: KafkaCluster, clones: list[Clone]) -> None:
    """Every clone's topics with their declared partitions and configs, in batches."""
    admin = cluster.get_admin_client()
    topics = [
        NewTopic(
            row["name"],
            num_partitions=row["spec"]["partitions"],
            replication_factor=row["spec"]["replication_factor"],
            config=dict(row["spec"]["configs"]),
        )
        for clone in clones
        for row in clone.rows
        if row["kind"] == kafka_inventory.KIND
    ]
    for first in range(0, len(topics), TOPIC_BATCH):
        futures = admin.create_topics(topics[first : first + TOPIC_BATCH], operation_timeout=30)
        for future in futures.values():
            future.result(timeout=60)


class AwsMaker:
    """Creates AWS resources from registry rows, with one shared client per service."""

    def __init__(self, account: AwsAccount) -> None:
        self.clients = {
            name: account.get_client(name)
            for name in ("s3", "sqs", "dynamodb", "ecr", "logs", "ecs", "iam")
        }
        self.region = account.region

    def service(self, clone: Clone) -> None:
        """All of one clone's AWS resources, in the order service:create makes them."""
        by_name = {row["name"]: row for row in clone.rows}
        makers: dict[str, Callable[[Row], None]] = {
            "ecr_repository": self.repository,
            "cloudwatch_log_group": self.log_group,
            "ecs_task_definition": self.task_definition,
            "ecs_service": self.ecs_service,
            "iam_role": self.role,
            "s3_bucket": self.bucket,
            "sqs_queue": lambda row: self.queue(row, by_name),
            "dynamodb_table": self.table,
        }
        for row in clone.rows:
            if row["provider"] == "aws":
                makers[row["kind"]](row)

    def repository(self, row: Row) -> None:
        self.clients["ecr"].create_repository(
            repositoryName=row["name"],
            imageTagMutability=row["spec"]["image_tag_mutability"],
            imageScanningConfiguration={"scanOnPush": row["spec"]["scan_on_push"]},
            tags=tag_list(row["tags"]),
        )

    def log_group(self, row: Row) -> None:
        logs = self.clients["logs"]
        logs.create_log_group(logGroupName=row["name"], tags=row["tags"])
        logs.put_retention_policy(
            logGroupName=row["name"], retentionInDays=row["spec"]["retention_days"]
        )

    def task_definition(self, row: Row) -> None:
        spec = row["spec"]
        self.clients["ecs"].register_task_definition(
            family=row["name"],
            cpu=str(spec["cpu"]),
            memory=str(spec["memory"]),
            networkMode="awsvpc",
            requiresCompatibilities=[spec["launch_type"]],
            containerDefinitions=[
                {
                    "name": CONTAINER_NAME,
                    "image": spec["image"],
                    "essential": True,
                    "portMappings": [{"containerPort": spec["container_port"], "protocol": "tcp"}],
                    "logConfiguration": {
                        "logDriver": "awslogs",
                        "options": {
                            "awslogs-group": spec["log_group"],
                            "awslogs-region": self.region,
                            "awslogs-stream-prefix": row["name"],
                        },
                    },
                }
            ],
            tags=[{"key": k, "value": v} for k, v in sorted(row["tags"].items())],
        )

    def ecs_service(self, row: Row) -> None:
        spec = row["spec"]
        self.clients["ecs"].create_service(
            cluster=spec["cluster"],
            serviceName=row["name"],
            taskDefinition=spec["task_definition"],
            desiredCount=spec["desired_count"],
            launchType="FARGATE",
            networkConfiguration={
                "awsvpcConfiguration": {
                    "subnets": spec["subnets"],
                    "securityGroups": spec["security_groups"],
                    "assignPublicIp": spec["assign_public_ip"],
                }
            },
            tags=[{"key": k, "value": v} for k, v in sorted(row["tags"].items())],
            propagateTags="SERVICE",
            enableECSManagedTags=True,
        )

    def role(self, row: Row) -> None:
        iam = self.clients["iam"]
        iam.create_role(
            RoleName=row["name"],
            AssumeRolePolicyDocument=json.dumps(row["spec"]["trust_policy"]),
            Description="Paved: GitHub Actions deploys of one service",
            MaxSessionDuration=3600,
            Tags=tag_list(row["tags"]),
        )
        iam.put_role_policy(
            RoleName=row["name"],
            PolicyName=DEPLOY_POLICY_NAME,
            PolicyDocument=json.dumps(row["spec"]["inline_policies"][DEPLOY_POLICY_NAME]),
        )

    def bucket(self, row: Row) -> None:
        s3, name, spec = self.clients["s3"], row["name"], row["spec"]
        s3.create_bucket(Bucket=name)
        if spec["public_access"] == "blocked":
            s3.put_public_access_block(
                Bucket=name,
                PublicAccessBlockConfiguration={
                    "BlockPublicAcls": True,
                    "IgnorePublicAcls": True,
                    "BlockPublicPolicy": True,
                    "RestrictPublicBuckets": True,
                },
            )
        s3.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": spec["encryption"]}}
                ]
            },
        )
        if spec["versioning"]:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tag_list(row["tags"])})

    def queue(self, row: Row, by_name: Mapping[str, Row]) -> None:
        spec = row["spec"]
        attributes = {"MessageRetentionPeriod": str(spec["message_retention_days"] * 86400)}
        if spec.get("visibility_timeout_seconds") is not None:
            attributes["VisibilityTimeout"] = str(spec["visibility_timeout_seconds"])
        if spec.get("dead_letter_queue"):
            attributes["RedrivePolicy"] = json.dumps(
                {
                    "deadLetterTargetArn": by_name[spec["dead_letter_queue"]]["external_id"],
                    "maxReceiveCount": spec["max_receive_count"],
                }
            )
        self.clients["sqs"].create_queue(
            QueueName=row["name"], Attributes=attributes, tags=row["tags"]
        )

    def table(self, row: Row) -> None:
        spec = row["spec"]
        keys = [{"AttributeName": spec["partition_key"], "KeyType": "HASH"}]
        if spec.get("sort_key"):
            keys.append({"AttributeName": spec["sort_key"], "KeyType": "RANGE"})
        self.clients["dynamodb"].create_table(
            TableName=row["name"],
            AttributeDefinitions=[
                {"AttributeName": k["AttributeName"], "AttributeType": "S"} for k in keys
            ],
            KeySchema=keys,
            BillingMode=spec["billing_mode"],
            Tags=tag_list(row["tags"]),
        )


def make_aws(account: AwsAccount, clones: list[Clone]) -> None:
    maker = AwsMaker(account)
    with ThreadPoolExecutor(max_workers=AWS_WORKERS) as pool:
        # list(): re-raise the first failure here.
        list(pool.map(maker.service, clones))


# --- drift ----------------------------------------------------------------------------

Expected = set[tuple[str, str]]


def ident(row: Row) -> str:
    return str(row["external_id"] or row["name"])


class Drifter:
    """Changes behind Paved's back, DRIFT_PER_CLASS of each class, each on a service of its
    own; each method returns (class, identifier) of what it changed."""

    def __init__(self, world: Stack) -> None:
        self.world = world
        self.github = world.github
        self.aws = AwsMaker(world.account).clients
        self.kafka = world.cluster.get_admin_client()

    def ownerless(self, clones: list[Clone]) -> Expected:
        """LEAVER, who owns these services, leaves."""
        with session_scope(self.world.engine) as session:
            queries.deactivate_person(session, handle=LEAVER, requester="bench")
        return {("ownerless", c.name) for c in clones}

    def missing(self, clones: list[Clone]) -> Expected:
        """Gone from the provider, still in the registry."""
        topics = [
            clones[0].row("kafka_topic", "state"),
            clones[1].row("kafka_topic", "events"),
            clones[2].row("kafka_topic", "state"),
        ]
        deleted = self.kafka.delete_topics([t["name"] for t in topics], operation_timeout=30)
        for future in deleted.values():
            future.result(timeout=60)
        repos = [c.row("github_repository") for c in clones[3:6]]
        for row in repos:
            self.github.delete_repository(ORGANIZATION, row["name"].split("/")[1])
        table, ecr = clones[6].row("dynamodb_table"), clones[7].row("ecr_repository")
        logs, bucket = clones[8].row("cloudwatch_log_group"), clones[9].row("s3_bucket")
        self.aws["dynamodb"].delete_table(TableName=table["name"])
        self.aws["ecr"].delete_repository(repositoryName=ecr["name"], force=True)
        self.aws["logs"].delete_log_group(logGroupName=logs["name"])
        self.aws["s3"].delete_bucket(Bucket=bucket["name"])
        return {("missing", ident(r)) for r in [*topics, *repos, table, ecr, logs, bucket]}

    def changed(self, clones: list[Clone]) -> Expected:
        """A declared setting altered."""
        events = [c.row("kafka_topic", "events") for c in clones[:3]]
        shorter = ConfigEntry(
            "retention.ms", "3600000", incremental_operation=AlterConfigOpType.SET
        )
        altered = self.kafka.incremental_alter_configs(
            [
                ConfigResource(ResourceType.TOPIC, r["name"], incremental_configs=[shorter])
                for r in events
            ]
        )
        for future in altered.values():
            future.result(timeout=60)
        self.github.update_repository(ORGANIZATION, clones[3].name, {"private": False})
        unprotected = self.github.get_repository(ORGANIZATION, clones[4].name)
        self.github.remove_protection(unprotected, unprotected.default_branch)
        self.github.update_repository(ORGANIZATION, clones[5].name, {"archived": True})
        repos = [c.row("github_repository") for c in clones[3:6]]
        bucket, queue = clones[6].row("s3_bucket"), clones[7].row("sqs_queue", "jobs")
        ecr, logs = clones[8].row("ecr_repository"), clones[9].row("cloudwatch_log_group")
        self.aws["s3"].put_bucket_versioning(
            Bucket=bucket["name"], VersioningConfiguration={"Status": "Suspended"}
        )
        self.aws["sqs"].set_queue_attributes(
            QueueUrl=queue["url"], Attributes={"VisibilityTimeout": "90"}
        )
        self.aws["ecr"].put_image_scanning_configuration(
            repositoryName=ecr["name"], imageScanningConfiguration={"scanOnPush": False}
        )
        self.aws["logs"].put_retention_policy(logGroupName=logs["name"], retentionInDays=7)
        return {("changed", ident(r)) for r in [*events, *repos, bucket, queue, ecr, logs]}

    def worth_finding(self, clones: list[Clone]) -> dict[str, str]:
        """Changes that matter most, each on a service of its own; returns what each is
        and the identifier of the resource changed (its finding is `changed`)."""
        s3, iam = self.aws["s3"], self.aws["iam"]
        public = clones[0].row("s3_bucket")["name"]
        s3.delete_public_access_block(Bucket=public)
        s3.put_bucket_policy(
            Bucket=public,
            Policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": "*",
                            "Action": "s3:GetObject",
                            "Resource": f"arn:aws:s3:::{public}/*",
                        }
                    ],
                }
            ),
        )
        unencrypted = clones[1].row("s3_bucket")["name"]
        s3.delete_bucket_encryption(Bucket=unencrypted)
        table = clones[2].row("dynamodb_table")
        self.aws["dynamodb"].update_table(
            TableName=table["name"],
            BillingMode="PROVISIONED",
            ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
        )
        inline, attached = clones[3].row("iam_role"), clones[4].row("iam_role")
        iam.put_role_policy(
            RoleName=inline["name"],
            PolicyName="hand-made-s3-admin",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
                }
            ),
        )
        iam.attach_role_policy(RoleName=attached["name"], PolicyArn=ADMINISTRATOR_POLICY)
        return {
            "bucket made public (access block removed, public policy)": ident(
                clones[0].row("s3_bucket")
            ),
            "bucket encryption removed": ident(clones[1].row("s3_bucket")),
            "table billing mode PAY_PER_REQUEST -> PROVISIONED": ident(table),
            "inline policy added to a deploy role": ident(inline),
            "managed policy attached to a deploy role": ident(attached),
        }

    def mistagged(self, clones: list[Clone]) -> Expected:
        """A policy tag removed, on each kind of AWS resource."""
        rows = [
            clones[0].row("s3_bucket"),
            clones[1].row("s3_bucket"),
            clones[2].row("sqs_queue", "jobs"),
            clones[3].row("sqs_queue", "dlq"),
            clones[4].row("dynamodb_table"),
            clones[5].row("ecr_repository"),
            clones[6].row("cloudwatch_log_group"),
            clones[7].row("ecs_service"),
            clones[8].row("iam_role"),
            clones[9].row("iam_role"),
        ]
        key, aws = "paved:cost-center", self.aws
        for row in rows[:2]:
            kept = {k: v for k, v in row["tags"].items() if k != key}
            aws["s3"].put_bucket_tagging(Bucket=row["name"], Tagging={"TagSet": tag_list(kept)})
        for row in rows[2:4]:
            aws["sqs"].untag_queue(QueueUrl=row["url"], TagKeys=[key])
        aws["dynamodb"].untag_resource(ResourceArn=rows[4]["external_id"], TagKeys=[key])
        aws["ecr"].untag_resource(resourceArn=rows[5]["external_id"], tagKeys=[key])
        aws["logs"].untag_log_group(logGroupName=rows[6]["name"], tags=[key])
        aws["ecs"].untag_resource(resourceArn=rows[7]["external_id"], tagKeys=[key])
        for row in rows[8:]:
            aws["iam"].untag_role(RoleName=row["name"], TagKeys=[key])
        return {("mistagged", ident(r)) for r in rows}

    def unmanaged(self) -> Expected:
        """Made by hand, never registered: repositories, topics, buckets, a queue, a table."""
        made: Expected = set()
        for n in range(3):
            self.github.create_repository(ORGANIZATION, f"hand-made-{n}", visibility="private")
            made.add(("unmanaged", f"{ORGANIZATION}/hand-made-{n}"))
        topics = [
            NewTopic(f"adhoc.scratch.t{n}", num_partitions=1, replication_factor=1)
            for n in range(3)
        ]
        for future in self.kafka.create_topics(topics, operation_timeout=30).values():
            future.result(timeout=60)
        made |= {("unmanaged", t.topic) for t in topics}
        s3, sqs = self.aws["s3"], self.aws["sqs"]
        for n in range(2):
            s3.create_bucket(Bucket=f"hand-made-bucket-{n}")
            made.add(("unmanaged", f"arn:aws:s3:::hand-made-bucket-{n}"))
        url = sqs.create_queue(QueueName="hand-made-queue")["QueueUrl"]
        queue = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        made.add(("unmanaged", queue["Attributes"]["QueueArn"]))
        table = self.aws["dynamodb"].create_table(
            TableName="hand-made-table",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        made.add(("unmanaged", table["TableDescription"]["TableArn"]))
        return made


def make_drift(world: Stack, clones: list[Clone]) -> tuple[Expected, dict[str, str]]:
    """Every class of drift, on services of their own (the ownerless ones are LEAVER's,
    the first DRIFT_PER_CLASS clones), and the drift worth finding (what it is ->
    the identifier of its `changed` finding)."""
    drifter, n = Drifter(world), DRIFT_PER_CLASS
    planted = drifter.worth_finding(clones[4 * n : 4 * n + WORTH_FINDING])
    expected = (
        drifter.ownerless(clones[:n])
        | drifter.missing(clones[n : 2 * n])
        | drifter.changed(clones[2 * n : 3 * n])
        | drifter.mistagged(clones[3 * n : 4 * n])
        | drifter.unmanaged()
        | {("changed", identifier) for identifier in planted.values()}
    )
    return expected, planted


def serviceless(engine: Engine) -> Expected:
    """What Paved itself registers with no service (the shared OIDC provider): the audit
    reports it ownerless on every run, drift or not."""
    with session_scope(engine) as session:
        names = session.scalars(select(Resource.name).where(Resource.service_id.is_(None)))
        return {("ownerless", name) for name in names}


# --- the audit ------------------------------------------------------------------------


@dataclass
class Timed:
    """One audit run: its result, its wall time and where the time went."""

    result: DriftAuditResult
    wall: float
    arrived: ServerCounts
    phases: dict[str, float]
    per_provider: dict[str, float]


def timed_audit(arrivals: Arrivals) -> Timed:
    arrivals.reset()
    started = time.perf_counter()
    state = audit_drift(request={"requester": "paved-audit"}, return_state=True)
    wall = time.perf_counter() - started
    arrived = arrivals.read()
    if not state.is_completed():
        raise SystemExit(f"the drift audit failed: {state.message}")
    result = state.result()
    assert isinstance(result, DriftAuditResult)
    run_id = state.state_details.flow_run_id
    assert run_id is not None
    return Timed(result, wall, arrived, *time_split(run_id))


def time_split(run_id: UUID) -> tuple[dict[str, float], dict[str, float]]:
    """Phases of the run from its own records (flow and task run start and end times):
    before listing, listing (first inventory task start to last end), detect + store
    (to the first message sent), telling the owners (the `notify: send` tasks) and the
    end (artifacts, journal); and each inventory task's run time."""
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)
        tasks = client.read_task_runs(
            task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[run_id])),
            limit=200,
        )
    listed = {
        provider: task
        for task in tasks
        for provider, name in INVENTORY_TASKS.items()
        if task.name.startswith(name)
    }
    sends = [task for task in tasks if task.name.startswith(NOTIFY_TASK)]
    assert run.start_time and run.end_time and len(listed) == len(INVENTORY_TASKS)
    marks = [run.start_time]
    marks.append(min(t.start_time for t in listed.values() if t.start_time))
    marks.append(max(t.end_time for t in listed.values() if t.end_time))
    if sends:
        marks.append(min(t.start_time for t in sends if t.start_time))
        marks.append(max(t.end_time for t in sends if t.end_time))
    else:
        marks += [marks[-1], marks[-1]]
    marks.append(run.end_time)
    names = ("before listing", "listing", "detect + store", "telling owners", "artifacts, end")
    phases = {
        name: (later - earlier).total_seconds()
        for name, (earlier, later) in zip(names, pairwise(marks), strict=True)
    }
    return phases, {p: t.total_run_time.total_seconds() for p, t in listed.items()}


def found_findings(engine: Engine) -> Expected:
    with session_scope(engine) as session:
        return {
            (row.drift_class.value, row.identifier)
            for row in list_findings(session, open_only=True)
        }


# --- report ---------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def report(registered: int, audited: int, services: int, timed: Timed) -> None:
    result = timed.result
    listed, calls = sum(result.listed.values()), sum(result.calls.values())
    print(f"\n== drift audit over {audited:,} audited resources ({services:,} services)")
    print(f"registered: {registered:,} resources ({audited:,} of kinds a provider lists)")
    arrived = timed.arrived.totals()
    print(f"{'provider':<9}{'listed':>9}{'calls':>8}{'arrived':>9}{'run time':>11}")
    for provider in result.listed:
        print(
            f"{provider:<9}{result.listed[provider]:>9,}{result.calls[provider]:>8}"
            f"{arrived[provider]:>9}{timed.per_provider.get(provider, 0.0):>10.2f}s"
        )
    print(f"{'total':<9}{listed:>9,}{calls:>8}{sum(arrived.values()):>9}")
    print("  calls: what the audit counts it sent; arrived: what the provider received")
    per = audited / calls if calls else math.inf
    budget = audited / TARGET_RESOURCES_PER_CALL
    print(
        f"calls per resource: {calls / audited:.4f} (1 call per {per:.0f} resources; "
        f"target at most 1 per {TARGET_RESOURCES_PER_CALL}, i.e. <= {budget:.0f} calls: "
        f"{verdict(calls <= budget)})"
    )
    print(
        f"wall time: {timed.wall:.1f} s (target < {TARGET_SECONDS:g} s: "
        f"{verdict(timed.wall < TARGET_SECONDS)})"
    )
    print(
        f"  flow run {sum(timed.phases.values()):.1f} s: "
        + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in timed.phases.items())
    )
    told = Counter(result.notified.values())
    print(
        f"detected: {result.detected}; opened {result.opened}, open {result.open_findings}; "
        f"owners told: {dict(told)}"
    )
    if result.notes:
        print("notes: " + "; ".join(result.notes))


def compare_calls(result: DriftAuditResult, arrived: ServerCounts) -> bool:
    """Print the audit's own count against what arrived, per provider; True when they
    agree (for Kafka: on the requests the audit asks for, see the printout)."""
    print("\n== provider calls: counted by the audit / counted where they arrive")
    github, aws = len(arrived.github), int(arrived.aws["total"])
    github_ok = result.calls.get("github") == github
    aws_ok = result.calls.get("aws") == aws
    print(
        f"github   {result.calls.get('github')} / {github} (fake GitHub's request journal): "
        f"{'agree' if github_ok else 'DIFFER'}; {dict(Counter(arrived.github))}"
    )
    print(
        f"aws      {result.calls.get('aws')} / {aws} (moto's request count): "
        f"{'agree' if aws_ok else 'DIFFER'}; by service {arrived.aws['services']}"
    )
    if arrived.aws["operations"]:
        print(f"         JSON-API operations: {arrived.aws['operations']}")
    return github_ok & aws_ok & compare_kafka(result.calls.get("kafka", 0), arrived.kafka)


def compare_kafka(audit_calls: int, at_broker: Mapping[str, int]) -> bool:
    """The audit counts one call for its topic listing (a Metadata request) and one per
    DescribeConfigs batch. librdkafka adds a protocol handshake (ApiVersions) and a
    telemetry question (GetTelemetrySubscriptions, KIP-714) on each connection and
    Metadata of its own (bootstrap, broker discovery); those arrive too,
    uncounted by the audit. They agree when the DescribeConfigs batches match exactly and
    the broker saw at least the one Metadata request the listing makes."""
    describes = at_broker.get("DescribeConfigs", 0)
    metadata = at_broker.get("Metadata", 0)
    asked = 1 + describes if metadata >= 1 else describes
    overhead = sum(at_broker.values()) - asked
    ok = audit_calls == asked
    print(
        f"kafka    {audit_calls} / {sum(at_broker.values())} (a proxy before the broker), "
        f"by API key {dict(sorted(at_broker.items()))}"
    )
    print(
        f"         the audit asked for {asked} (1 Metadata listing + {describes} "
        f"DescribeConfigs batches): {'agree' if ok else 'DIFFER'}; the other {overhead} "
        "are librdkafka's own (an ApiVersions handshake and a GetTelemetrySubscriptions "
        "per connection, Metadata for bootstrap and broker discovery), which the audit "
        "does not count"
    )
    return ok


def check_planted(planted: Mapping[str, str], engine: Engine) -> bool:
    """Print which of the drift worth finding the audit found (an open `changed`
    finding on the resource), with the finding's summary."""
    with session_scope(engine) as session:
        summaries = {
            row.identifier: row.summary
            for row in list_findings(session, open_only=True)
            if row.drift_class.value == "changed"
        }
    print("\n== drift worth finding")
    for label, identifier in planted.items():
        summary = summaries.get(identifier)
        print(f"{'found' if summary else 'MISSED':<7}{label}: {summary or identifier}")
    return all(identifier in summaries for identifier in planted.values())


def figures(
    registered: int, audited: int, services: int, timed: Timed, agree: bool
) -> dict[str, Any]:
    """What `--json` writes."""
    result = timed.result
    return {
        "services": services,
        "registered": registered,
        "audited": audited,
        "wall_s": round(timed.wall, 3),
        "phases_s": {name: round(seconds, 3) for name, seconds in timed.phases.items()},
        "listed": result.listed,
        "calls": result.calls,
        "calls_server": timed.arrived.totals(),
        "calls_server_detail": {
            "github": dict(Counter(timed.arrived.github)),
            "aws": timed.arrived.aws,
            "kafka": timed.arrived.kafka,
        },
        "calls_agree": agree,
        "detected": result.detected,
    }


def check(expected: Expected, found: Expected) -> bool:
    """Print what was found per class against what was made; True when they are equal."""
    print("\n== findings against the drift made")
    classes = sorted({c for c, _ in expected | found})
    for drift_class in classes:
        made = {i for c, i in expected if c == drift_class}
        seen = {i for c, i in found if c == drift_class}
        print(f"{drift_class:<10} made {len(made):>3}, found {len(seen):>3}, exact: {made == seen}")
        for identifier in sorted(made - seen)[:10]:
            print(f"  not found: {identifier}")
        for identifier in sorted(seen - made)[:10]:
            print(f"  unexpected: {identifier}")
    return expected == found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--resources",
        type=int,
        default=10_000,
        help="registered resources of the kinds the audit lists (at least 500)",
    )
    parser.add_argument("--postgres-url", help="an EMPTY PostgreSQL database for the registry")
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    args = parser.parse_args()
    if args.resources < 500:
        parser.error("--resources must be at least 500 (the drift needs 46 services)")
    print("(retry delays as in production: PAVED_RETRY_DELAY_SCALE is not applied)")
    try:
        with tempfile.TemporaryDirectory(prefix="paved-bench-audit-") as directory:
            url = args.postgres_url or f"sqlite:///{Path(directory) / 'registry.db'}"
            database = "PostgreSQL" if args.postgres_url else "SQLite"
            print(f"# drift audit bench: registry on {database}")
            started = time.perf_counter()
            with stack(url) as world:
                print(f"servers up in {time.perf_counter() - started:.1f} s")
                ok, out = bench(world, args.resources)
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
            print(f"\nwritten to {args.json}")
    finally:
        home = Path(os.environ["PREFECT_HOME"])
        if home.name.startswith(PREFECT_HOME_PREFIX):
            shutil.rmtree(home, ignore_errors=True)
    if not ok:
        sys.exit(1)


def bench(world: Stack, resources: int) -> tuple[bool, dict[str, Any]]:
    """Seed, drift, audit, report; True when the audit found exactly the drift made and
    its own call counts agree with what arrived; and the figures."""
    started = time.perf_counter()
    make_pattern()
    pattern = pattern_rows(world.engine)
    per_service = sum(1 for row in pattern if row["kind"] in AUDITED_KINDS)
    services = math.ceil(resources / per_service)
    print(
        f"pattern service made by service:create in {time.perf_counter() - started:.1f} s "
        f"({len(pattern)} resources, {per_service} of them audited)"
    )
    clones = plan_clones(services - 1, world.engine, pattern)
    if len(clones) < 4 * DRIFT_PER_CLASS + WORTH_FINDING:
        raise SystemExit(f"{len(clones)} services are too few for the drift this bench makes")
    steps: list[tuple[str, Callable[[], object]]] = [
        ("notification channels", lambda: give_channels(world)),
        ("registry rows", lambda: register(world.engine, clones)),
        ("GitHub repositories", lambda: make_repositories(world.github, clones)),
        ("Kafka topics", lambda: make_topics(world.cluster, clones)),
        ("AWS resources", lambda: make_aws(world.account, clones)),
    ]
    for label, step in steps:
        t0 = time.perf_counter()
        step()
        print(f"  {label}: {time.perf_counter() - t0:.1f} s")
    with session_scope(world.engine) as session:
        kinds = list(session.scalars(select(Resource.kind)))
    registered = len(kinds)
    audited = sum(1 for kind in kinds if kind in AUDITED_KINDS)
    baseline = serviceless(world.engine)
    drift, planted = make_drift(world, clones)
    expected = drift | baseline
    print(
        f"seeded {services:,} services, {registered:,} registered resources, and "
        f"{DRIFT_PER_CLASS} drifts of each class in {time.perf_counter() - started:.1f} s "
        "(not part of the figures)"
    )
    timed = timed_audit(world.arrivals)
    report(registered, audited, services, timed)
    agree = compare_calls(timed.result, timed.arrived)
    print(f"\nknown without drift: {sorted(i for _, i in baseline)} (ownerless: no service)")
    by_class = Counter(c for c, _ in expected)
    print(f"drift made: {dict(sorted(by_class.items()))}")
    found_planted = check_planted(planted, world.engine)
    exact = check(expected, found_findings(world.engine))
    out = figures(registered, audited, services, timed, agree)
    out["planted_found"] = found_planted
    out["drift_exact"] = exact
    return exact and found_planted and agree, out


if __name__ == "__main__":
    main()
