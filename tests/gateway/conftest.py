"""The gateway against real servers, started once per test session on free ports:

    Prefect      `prefect server start` in a subprocess, its own home, the auth string set
    fake GitHub  in a thread, with a known token secret and OAuth app, plus frank, a
                 GitHub person the registry does not know
    registry     SQLite, migrated, seeded from sandbox/seed.yaml; bob deactivated
    gateway      `create_app(GatewayConfig(...))` served by uvicorn in a thread

Nothing is deployed from code: a flow and two deployments are created through Prefect's
API (a Paved action, whose parameters hold a `request`, and a housekeeping one). No worker
runs, so runs created through the gateway stay Scheduled, which is all these tests need.

Every module here is in one xdist group: `make test` runs `--dist loadgroup`, so the
servers start on one worker only.
"""

from __future__ import annotations

import base64
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import SecretStr

from paved.gateway.app import create_app
from paved.gateway.config import GatewayConfig
from registry import answers
from registry.db import make_engine, migrate, session_scope
from registry.seed import apply_seed, load_seed
from sandbox.fake_github import ServerHandle, serve_in_thread
from sandbox.fake_github.identity import Identity
from sandbox.fake_github.seed import load_seed_file
from sandbox.fake_github.state import GitHubState
from sandbox.launch import LaunchSpec, http_probe, venv_script
from tests.conftest import free_port
from tests.servers import running

GATEWAY_GROUP = pytest.mark.xdist_group("gateway")
SEED_FILE = Path(__file__).resolve().parents[2] / "sandbox" / "seed.yaml"
OAUTH_CLIENT_ID = "paved-gateway-tests"
ADMIN_TEAM = "platform"
STRANGER = "frank"
"""On GitHub (and in the organization's world of the fake), not in the registry."""
DEACTIVATED = "bob"

# A Paved action's parameters: one `request` object, as flows/ declare them.
REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Parameters",
    "properties": {
        "request": {
            "type": "object",
            "title": "request",
            "properties": {
                "requester": {"type": "string", "description": "Who asks."},
                "team": {"type": "string", "description": "The owning team."},
                "name": {"type": "string", "description": "The service."},
            },
            "required": ["requester", "team", "name"],
        }
    },
    "required": ["request"],
}
HOUSEKEEPING_SCHEMA: dict[str, Any] = {"type": "object", "title": "Parameters", "properties": {}}


def _basic(auth_string: str) -> str:
    return "Basic " + base64.b64encode(auth_string.encode()).decode()


@dataclass(frozen=True)
class PrefectServer:
    """Prefect's own server, and how to reach it with the auth string (as workers do)."""

    url: str
    auth_string: str

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    def client(self, *, authenticated: bool = True) -> httpx.Client:
        headers = {"Authorization": _basic(self.auth_string)} if authenticated else {}
        return httpx.Client(base_url=self.api_url, headers=headers, timeout=30, trust_env=False)


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """`prefect server start` on a free port, requiring a fresh auth string."""
    home = tmp_path_factory.mktemp("gateway-prefect")
    port = free_port()
    auth_string = secrets.token_urlsafe(24)
    spec = LaunchSpec(
        name="prefect",
        argv=(
            venv_script("prefect"),
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            # Scheduler, late runs, event persisting...: nothing here needs them, and they
            # cost start-up time and CPU on a shared machine.
            "--no-services",
        ),
        health=lambda: http_probe(f"http://127.0.0.1:{port}/api/health"),
        port=port,
        env={
            "PREFECT_HOME": str(home),
            "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
            "PREFECT_SERVER_API_AUTH_STRING": auth_string,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        },
        startup_timeout=120.0,
    )
    with running(spec):
        yield PrefectServer(url=f"http://127.0.0.1:{port}", auth_string=auth_string)


@pytest.fixture(scope="session")
def github_identity() -> Identity:
    return Identity(
        token_secret=secrets.token_hex(16),
        oauth_client_id=OAUTH_CLIENT_ID,
        oauth_client_secret=secrets.token_hex(20),
    )


@pytest.fixture(scope="session")
def github(github_identity: Identity) -> Iterator[ServerHandle]:
    """The fake GitHub: the sandbox's people and organization, and frank."""
    seed = load_seed_file()
    seed["people"] = [
        *seed["people"],
        {"handle": STRANGER, "name": "Frank Fisher", "email": "frank@acme.example"},
    ]
    handle = serve_in_thread(state=GitHubState(seed), identity=github_identity)
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def registry_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The sandbox's registry on SQLite, with bob deactivated (he left)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('gateway-registry') / 'registry.db'}"
    migrate(url)
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            apply_seed(session, seed=load_seed(SEED_FILE))
            answers.deactivate_person(session, handle=DEACTIVATED, requester="alice")
    finally:
        engine.dispose()
    return url


@dataclass(frozen=True)
class Gateway:
    """The running gateway, and the tokens of people to call it as."""

    url: str
    identity: Identity

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    def token(self, handle: str) -> str:
        return self.identity.token_of(handle)

    def api(self, handle: str | None = None, *, token: str | None = None) -> httpx.Client:
        """A client of the gateway's API as `handle` (their GitHub token), as the bearer of
        `token`, or with no credential."""
        bearer = token if token is not None else self.token(handle) if handle else None
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        return httpx.Client(base_url=self.api_url, headers=headers, timeout=30, trust_env=False)

    def web(self) -> httpx.Client:
        """A browser-like client of the gateway: cookies kept, redirects not followed."""
        return httpx.Client(base_url=self.url, timeout=30, trust_env=False)


def serve_app(app: Any) -> tuple[str, uvicorn.Server, threading.Thread]:
    # The socket is bound here, so the port cannot be taken before uvicorn starts;
    # IPPROTO_TCP so asyncio sets TCP_NODELAY (no 40 ms delayed-ACK waits).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # The server options of `python -m paved.gateway`.
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws="websockets-sansio",
        proxy_headers=False,
        lifespan="on",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"gateway-{port}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the gateway did not start on 127.0.0.1:{port}")
        time.sleep(0.01)
    return f"http://127.0.0.1:{port}", server, thread


def gateway_config(
    *, prefect_url: str, auth_string: str, github: ServerHandle, registry_url: str
) -> GatewayConfig:
    """A gateway's settings in front of that Prefect server, the fake GitHub and the
    registry, with a fresh session key."""
    return GatewayConfig(
        prefect_url=prefect_url,
        prefect_auth_string=SecretStr(auth_string),
        github_api_url=github.url,
        github_web_url=github.url,
        oauth_client_id=github.identity.oauth_client_id,
        oauth_client_secret=SecretStr(github.identity.oauth_client_secret),
        session_key=SecretStr(secrets.token_hex(32)),
        registry_url=SecretStr(registry_url),
        admin_team=ADMIN_TEAM,
    )


@pytest.fixture(scope="session")
def gateway(
    prefect_server: PrefectServer, github: ServerHandle, registry_url: str
) -> Iterator[Gateway]:
    """The gateway in front of those three, in-process."""
    config = gateway_config(
        prefect_url=prefect_server.url,
        auth_string=prefect_server.auth_string,
        github=github,
        registry_url=registry_url,
    )
    url, server, thread = serve_app(create_app(config))
    yield Gateway(url=url, identity=github.identity)
    server.should_exit = True
    thread.join(timeout=10)


# --- what is deployed: a flow and two deployments, through Prefect's API ------------------


@dataclass(frozen=True)
class Deployments:
    action: str
    """A Paved action: its parameters are one `request`."""
    housekeeping: str
    """Runs for the platform, not for a person: no `request`."""


@pytest.fixture(scope="session")
def deployments(prefect_server: PrefectServer) -> Deployments:
    with prefect_server.client() as prefect:
        flow = prefect.post("/flows/", json={"name": "gateway-tests"})
        flow.raise_for_status()
        ids = []
        for name, schema in (
            ("service-create", REQUEST_SCHEMA),
            ("people-sync", HOUSEKEEPING_SCHEMA),
        ):
            created = prefect.post(
                "/deployments/",
                json={
                    "name": name,
                    "flow_id": flow.json()["id"],
                    "parameter_openapi_schema": schema,
                    "enforce_parameter_schema": True,
                },
            )
            created.raise_for_status()
            ids.append(created.json()["id"])
    return Deployments(action=ids[0], housekeeping=ids[1])


def request_body(*, team: str = "payments", **fields: Any) -> dict[str, Any]:
    """A create_flow_run body of the action deployment."""
    return {"parameters": {"request": {"team": team, "name": "orders", **fields}}}


@pytest.fixture
def run_of_dave(gateway: Gateway, deployments: Deployments) -> str:
    """A flow run dave asked for through the gateway (it stays Scheduled)."""
    with gateway.api("dave") as api:
        created = api.post(
            f"/deployments/{deployments.action}/create_flow_run", json=request_body()
        )
    assert created.status_code == 201, created.text
    run_id: str = created.json()["id"]
    return run_id
