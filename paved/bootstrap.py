"""What `paved up` does once every component is healthy.

Migrate and seed the registry, save the blocks the flows load, apply the deployments of
`prefect.yaml` to the local work pool, and run the demo request through the gateway (as
alice, signed in with her sandbox token), its deployment and the worker (not in-process),
so the first thing a developer sees is a real run, asked for by a real person.
Every step is idempotent: `paved up` twice is harmless.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
from prefect.client.schemas.objects import FlowRun
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound
from prefect.settings import (
    PREFECT_API_AUTH_STRING,
    PREFECT_API_KEY,
    PREFECT_API_URL,
    temporary_settings,
)
from prefect_aws.client_parameters import AwsClientParameters
from prefect_aws.credentials import AwsCredentials
from pydantic import SecretStr

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
from paved.automations import ensure_crash_detection
from paved.settings import Settings
from registry.db import make_engine, migrate, session_scope
from registry.queries import set_notify_channel
from registry.seed import SeedData, apply_seed, load_seed
from tasks.notify import save_webhook_channel

__all__ = [
    "DEMO_DEPLOYMENT",
    "DemoRun",
    "bootstrap",
    "demo_request",
    "save_notification_blocks",
]

DEMO_DEPLOYMENT = "github-repo-create/github:repo:create"
# The fake GitHub accepts any token; a real organization's token is saved by hand.
LOCAL_GITHUB_TOKEN = "paved-local-token"
DEPLOY_TIMEOUT_SECONDS = 300
DEMO_TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class DemoRun:
    """The demo flow run: where to see it and how it ended."""

    flow_run_id: str
    name: str
    repository: str
    state: str
    ui_url: str


DEMO_REQUESTER = "alice"


def demo_request() -> dict[str, object]:
    """The demo request of `make up`: repository `hello` for team `platform`, owner `alice`.

    No requester: the gateway stamps whoever is signed in (alice, for the demo)."""
    return {
        "name": "hello",
        "team": "platform",
        "owner": "alice",
        "description": "Demo service of the Paved sandbox",
    }


def sandbox_person_token(settings: Settings, handle: str) -> str:
    """`handle`'s GitHub token, from the sandbox's fake GitHub (its test seam)."""
    response = httpx.get(
        f"{settings.github_url}/_fake/tokens/{handle}", timeout=10, trust_env=False
    )
    response.raise_for_status()
    return str(response.json()["token"])


def bootstrap(settings: Settings, *, run_demo: bool = True) -> DemoRun | None:
    """Migrate, seed, save blocks, deploy and (optionally) run the demo; returns the demo run."""
    seed = load_seed(settings.seed_file)
    migrate(settings.registry_url)
    engine = make_engine(settings.registry_url)
    try:
        with session_scope(engine) as session:
            apply_seed(session, seed=seed)
    finally:
        engine.dispose()
    with temporary_settings(updates={PREFECT_API_URL: settings.prefect_api_url}):
        save_blocks(settings, seed)
        save_notification_blocks(settings, seed)
        ensure_work_pool(settings.work_pool, concurrency=settings.work_pool_concurrency)
        deploy(settings)
        ensure_crash_detection()
        return run_demo_request(settings, seed) if run_demo else None


def save_blocks(settings: Settings, seed: SeedData) -> None:
    """Save the four blocks the flows load, pointing at the local stand-ins."""
    GitHubOrganization(
        api_url=settings.github_url,
        organization=seed.organization.login,
        token=SecretStr(LOCAL_GITHUB_TOKEN),
        template_repository=seed.organization.template_repository,
        # GitHub's pacing protects github.com; the local fake needs none.
        seconds_between_requests=0,
        seconds_between_writes=0,
    ).save(GITHUB_BLOCK, overwrite=True)
    AwsAccount(
        credentials=AwsCredentials(
            # moto accepts any credentials; these are its documented test values.
            aws_access_key_id="testing",
            aws_secret_access_key=SecretStr("testing"),
            region_name="us-east-1",
            aws_client_parameters=AwsClientParameters(endpoint_url=settings.aws_endpoint_url),
        )
    ).save(AWS_BLOCK, overwrite=True)
    KafkaCluster(bootstrap_servers=settings.kafka_bootstrap).save(KAFKA_BLOCK, overwrite=True)
    RegistryDatabase(url=SecretStr(settings.registry_url), admin_team=settings.admin_team).save(
        REGISTRY_BLOCK, overwrite=True
    )


def save_notification_blocks(settings: Settings, seed: SeedData) -> dict[str, str]:
    """Give each seeded person a webhook channel on the local sink, in Prefect and in the
    registry (`notify-<handle>` posting to <sink>/hooks/<handle>); returns the channels."""
    channels = {
        handle: save_webhook_channel(handle=handle, url=settings.notify_hook_url(handle))
        for handle in (person.handle.lower() for person in seed.people)
    }
    engine = make_engine(settings.registry_url)
    try:
        with session_scope(engine) as session:
            for handle, channel in channels.items():
                set_notify_channel(session, handle=handle, channel=channel)
    finally:
        engine.dispose()
    return channels


def ensure_work_pool(name: str, *, concurrency: int) -> None:
    """The `process` work pool, created unless it exists (the worker may have made it),
    with its concurrency limit set."""
    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(name)
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(name=name, type="process"))
        client.update_work_pool(
            work_pool_name=name, work_pool=WorkPoolUpdate(concurrency_limit=concurrency)
        )


def deploy(settings: Settings) -> None:
    """Apply every deployment of prefect.yaml to the local work pool."""
    env = {
        **os.environ,
        **settings.prefect_env(),
        "PAVED_PROJECT_DIR": str(settings.project_dir),
        "PAVED_WORK_POOL": settings.work_pool,
    }
    prefect = os.path.join(os.path.dirname(sys.executable), "prefect")
    completed = subprocess.run(
        [prefect, "--no-prompt", "deploy", "--all"],
        cwd=settings.project_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEPLOY_TIMEOUT_SECONDS,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            "prefect deploy failed:\n" + (completed.stdout + completed.stderr)[-4000:]
        )


def run_demo_request(settings: Settings, seed: SeedData) -> DemoRun:
    """Run the demo request through the gateway as alice, its deployment and the worker;
    wait for the end."""
    request = demo_request()
    as_alice = {
        PREFECT_API_URL: settings.gateway_api_url,
        PREFECT_API_KEY: sandbox_person_token(settings, DEMO_REQUESTER),
    }
    # Through the door people use: alice's token, never the stack's auth string.
    with temporary_settings(updates=as_alice, restore_defaults={PREFECT_API_AUTH_STRING}):
        flow_run = run_deployment(
            DEMO_DEPLOYMENT,
            parameters={"request": request},
            timeout=DEMO_TIMEOUT_SECONDS,
            tags=["demo"],
        )
    if not isinstance(flow_run, FlowRun):  # run_deployment is sync-compatible
        raise TypeError("run_deployment returned a coroutine in a synchronous caller")
    state = flow_run.state.name if flow_run.state and flow_run.state.name else "Unknown"
    return DemoRun(
        flow_run_id=str(flow_run.id),
        name=flow_run.name,
        repository=f"{seed.organization.login}/{request['name']}",
        state=state,
        ui_url=f"{settings.gateway_url}/runs/flow-run/{flow_run.id}",
    )
