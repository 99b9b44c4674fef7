"""Running the fake: in a background thread (tests) or in the foreground (`__main__`)."""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from sandbox.fake_github.app import create_app
from sandbox.fake_github.identity import Identity
from sandbox.fake_github.state import GitHubState

STARTUP_TIMEOUT_SECONDS = 10.0

TEST_PORTS = range(18000, 19000)
"""The loopback ports Paved's tests run their local servers on."""


def uvicorn_config(app: FastAPI, host: str, port: int) -> uvicorn.Config:
    """The one uvicorn configuration the fake runs with.

    h11 is pinned because drop faults abort the connection through the protocol's
    transport (see `app.FakeGitHubApp`); websockets and lifespan are not used.
    """
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        http="h11",
        ws="none",
        lifespan="off",
        timeout_graceful_shutdown=1,
    )


@dataclass
class ServerHandle:
    """A fake GitHub running in a daemon thread; `stop()` it when done."""

    url: str
    app: FastAPI
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def identity(self) -> Identity:
        """The token secret and OAuth app the server uses."""
        identity: Identity = self.app.state.identity
        return identity

    @property
    def state(self) -> GitHubState:
        """The world the server serves (tests may read or change it directly)."""
        state: GitHubState = self.app.state.github
        return state

    def stop(self) -> None:
        """Shut the server down and wait for its thread."""
        self.server.should_exit = True
        self.thread.join(timeout=STARTUP_TIMEOUT_SECONDS)


def serve_in_thread(
    port: int | Sequence[int] = TEST_PORTS,
    state: GitHubState | None = None,
    *,
    host: str = "127.0.0.1",
    identity: Identity | None = None,
) -> ServerHandle:
    """Start the fake on `host:port` in a daemon thread and return once it accepts calls.

    `port` is a port, or ports to pick a free one from (tried in random order, so test
    sessions running side by side rarely collide). The socket is bound here: a port in use
    fails at once with `OSError`, and a picked port cannot be taken before uvicorn starts.
    `identity` sets the token secret and the OAuth app (see `create_app`).
    """
    app = create_app(state, identity=identity)
    sock = _bind(host, [port] if isinstance(port, int) else random.sample(list(port), len(port)))
    bound_port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn_config(app, host, bound_port))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"fake-github-{bound_port}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"the fake GitHub did not start on {host}:{bound_port}")
        time.sleep(0.01)
    return ServerHandle(url=f"http://{host}:{bound_port}", app=app, server=server, thread=thread)


def _bind(host: str, ports: Sequence[int]) -> socket.socket:
    error: OSError | None = None
    for candidate in ports:
        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say they
        # are TCP, and without it every answer waits ~40 ms for a delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        # Lets a restarted fake reuse its port despite TIME_WAIT; Linux still refuses a
        # port some other socket is listening on.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, candidate))
        except OSError as exc:
            sock.close()
            error = exc
            continue
        return sock
    raise error or OSError(f"no port to bind on {host}")
