"""Fixtures for running action flows in-process against real local servers.

One Prefect test harness per session (it costs ~20 s), Paved's fake GitHub in a thread,
and a fresh SQLite registry per test, migrated and seeded; the blocks the flows load
are saved pointing at them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from github import Auth, Github
from prefect.testing.utilities import prefect_test_harness
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
from registry.db import make_engine, migrate, session_scope
from registry.seed import apply_seed, load_seed
from sandbox.fake_github import FakeGitHubControl, serve_in_thread
from tests.conftest import free_port
from tests.servers import moto_account

SEED_FILE = Path(__file__).resolve().parents[2] / "sandbox" / "seed.yaml"


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def github_server() -> Iterator[str]:
    server = serve_in_thread(free_port())
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def github(github_server: str) -> Iterator[Github]:
    """A PyGithub client on the fake, for checking what a run left there."""
    client = Github(base_url=github_server, auth=Auth.Token("test-token"), retry=None)
    yield client
    client.close()


@pytest.fixture
def fake_github(github_server: str) -> FakeGitHubControl:
    """The fake GitHub, back to the sandbox seed, with an empty request journal."""
    control = FakeGitHubControl(github_server)
    control.seed(yaml.safe_load(SEED_FILE.read_text()))
    control.clear_faults()
    control.clear_requests()
    return control


@pytest.fixture
def registry_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    migrate(url)
    engine = make_engine(url)
    with session_scope(engine) as session:
        apply_seed(session, seed=load_seed(SEED_FILE))
    engine.dispose()
    return url


@pytest.fixture
def aws_account(prefect_api: None, moto_url: str) -> AwsAccount:
    """moto, emptied, and the `paved-aws` block pointing at it."""
    account = moto_account(moto_url)
    account.save(AWS_BLOCK, overwrite=True)
    return account


@pytest.fixture
def kafka_cluster(prefect_api: None, kafka_bootstrap: str) -> Iterator[KafkaCluster]:
    """The Tansu broker, and the `paved-kafka` block pointing at it; topics made by the
    test are deleted afterwards so tests stay independent."""
    cluster = KafkaCluster(bootstrap_servers=kafka_bootstrap)
    cluster.save(KAFKA_BLOCK, overwrite=True)
    admin = cluster.get_admin_client()
    before = set(admin.list_topics(timeout=10).topics)
    yield cluster
    made = set(admin.list_topics(timeout=10).topics) - before
    if made:
        for future in admin.delete_topics(sorted(made), operation_timeout=10).values():
            future.result()


@pytest.fixture
def paved_blocks(prefect_api: None, github_server: str, registry_url: str) -> None:
    """Save the blocks the flows load, pointing at this test's servers."""
    GitHubOrganization(
        api_url=github_server,
        organization="acme",
        token=SecretStr("test-token"),
        # GitHub's pacing protects github.com; the fake needs none.
        seconds_between_requests=0,
        seconds_between_writes=0,
    ).save(GITHUB_BLOCK, overwrite=True)
    RegistryDatabase(url=SecretStr(registry_url)).save(REGISTRY_BLOCK, overwrite=True)
