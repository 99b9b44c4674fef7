"""The scale topology (`paved up --scale`, issue 11): what it runs, how it is configured,
and the balancer in front of the Prefect API servers. The whole topology runs in
`make chaos`; these are the parts that need no cluster of processes."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from paved.settings import Settings
from paved.stack import SCALE_ONLY, stack_components, worker_name
from tests.stack.conftest import free_ports, release_ports


def test_scale_runs_on_postgresql_with_the_extra_processes(settings: Settings) -> None:
    scaled = Settings(scale=True)
    single = Settings(scale=False, database="postgres")

    assert scaled.database == "postgres"
    assert set(stack_components(scaled)) >= SCALE_ONLY | {"postgres", "prefect", "worker"}
    assert not SCALE_ONLY & set(stack_components(single))
    assert [worker_name(c) for c in ("worker", "worker-2", "worker-3")] == [
        "paved-local-worker",
        "paved-local-worker-2",
        "paved-local-worker-3",
    ]
    with pytest.raises(ValueError, match="scale topology runs on PostgreSQL"):
        Settings(scale=True, database="sqlite")


def test_every_prefect_process_of_the_scale_topology_shares_redis(settings: Settings) -> None:
    env = Settings(scale=True).prefect_env()

    assert env["PREFECT_MESSAGING_BROKER"] == "prefect_redis.messaging"
    assert env["PREFECT_MESSAGING_CACHE"] == "prefect_redis.messaging"
    assert env["PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE"] == "prefect_redis.lease_storage"
    assert env["PREFECT_REDIS_MESSAGING_URL"].startswith("redis://127.0.0.1:")
    assert env["PREFECT_SERVER_DATABASE_MIGRATE_ON_START"] == "false"  # migrated once, apart
    assert "PREFECT_MESSAGING_BROKER" not in Settings(scale=False).prefect_env()


class _Named(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = self.server.server_name.encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def two_upstreams() -> Iterator[list[ThreadingHTTPServer]]:
    ports = free_ports(2)
    servers = []
    for number, port in enumerate(ports, start=1):
        server = ThreadingHTTPServer(("127.0.0.1", port), _Named)
        server.server_name = f"api-{number}"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    yield servers
    for server in servers:
        server.shutdown()
        server.server_close()
    release_ports(ports)


def test_the_balancer_spreads_connections_and_skips_a_dead_upstream(
    two_upstreams: list[ThreadingHTTPServer],
) -> None:
    [port] = free_ports(1)
    upstreams = [f"127.0.0.1:{s.server_address[1]}" for s in two_upstreams]
    balancer = subprocess.Popen(
        [sys.executable, "-m", "paved.balancer", "--listen", f"127.0.0.1:{port}"]
        + [arg for upstream in upstreams for arg in ("--upstream", upstream)]
    )
    try:
        url = f"http://127.0.0.1:{port}/api/health"
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the balancer never listened"
                time.sleep(0.05)
        # A new connection per call (no keep-alive): each is balanced on its own.
        answers = {httpx.get(url, timeout=2).text for _ in range(6)}
        assert answers == {"api-1", "api-2"}

        two_upstreams[0].shutdown()
        two_upstreams[0].server_close()  # api-1 is gone: its port refuses
        after = [httpx.get(url, timeout=2) for _ in range(6)]
        assert {(a.status_code, a.text) for a in after} == {(200, "api-2")}
    finally:
        balancer.terminate()
        balancer.wait(timeout=10)
        release_ports([port])
