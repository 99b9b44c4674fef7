"""Session-wide local servers for the tests: moto and the Tansu broker, started once.

The fake GitHub runs in a thread (tests/flows/conftest.py); these two are separate
processes, launched from the same specs `paved up` uses (sandbox/launch.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from prefect_aws.client_parameters import AwsClientParameters
from prefect_aws.credentials import AwsCredentials
from pydantic import SecretStr

from blocks import AwsAccount
from sandbox.launch import LaunchSpec, moto, tansu
from tests.conftest import free_port


@contextmanager
def running(spec: LaunchSpec) -> Iterator[None]:
    """Run `spec`'s process until the block ends; fail clearly if it never gets healthy."""
    # stderr goes to a file, not a pipe: nobody reads a pipe while the server runs, and a
    # chatty server blocks once the pipe's buffer (64 KiB) is full.
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            spec.argv,
            env={**os.environ, **spec.env},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + spec.startup_timeout
            while not (probe := spec.health()).healthy:
                if process.poll() is not None:
                    stderr.seek(0)
                    output = stderr.read().decode(errors="replace")
                    raise RuntimeError(f"{spec.name} exited at start: {output[-2000:]}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{spec.name} not healthy after start: {probe.detail}")
                time.sleep(0.1)
            yield
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """A moto server for the whole session (reset it per test with POST /moto-api/reset)."""
    port = free_port()
    with running(moto(host="127.0.0.1", port=port)):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """A Tansu broker (memory storage) for the whole session."""
    port = free_port()
    with running(tansu(host="127.0.0.1", port=port)):
        yield f"127.0.0.1:{port}"


def moto_account(
    moto_url: str, *, region: str = "us-east-1", allowed_regions: list[str] | None = None
) -> AwsAccount:
    """moto, emptied, and an AwsAccount block (not saved) whose clients talk to it."""
    httpx.post(f"{moto_url}/moto-api/reset", timeout=10).raise_for_status()
    extra = {"allowed_regions": allowed_regions} if allowed_regions else {}
    return AwsAccount(
        credentials=AwsCredentials(
            aws_access_key_id="testing",
            aws_secret_access_key=SecretStr("testing"),
            region_name=region,
            aws_client_parameters=AwsClientParameters(endpoint_url=moto_url),
        ),
        **extra,
    )
