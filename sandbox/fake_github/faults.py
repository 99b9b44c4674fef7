"""Fault injection: make the next matching calls fail, or drop their connection.

A fault names a method (or any), a regular expression the whole request path must match
(as the client sent it or in its slug-based form: `/orgs/acme/teams/platform/memberships/.*`
also hits PyGithub's `/organizations/{id}/team/{id}/memberships/...` calls), and either an
HTTP status (answered with a GitHub-like error body) or `drop`: the TCP connection is
aborted without a response, so the client sees a connection error (requests raises
`ConnectionError`), as when a proxy or GitHub's edge resets it.

Rate limits are status faults with GitHub's headers: a secondary limit is 403 with a
`retry-after` header and GitHub's "You have exceeded a secondary rate limit" message, a
primary one 403 or 429 with `x-ratelimit-remaining: 0`. On `/graphql` a fault with status
200 answers as GitHub's GraphQL API reports an exhausted primary limit: 200 with an
`errors` entry of type `RATE_LIMIT` (add `x-ratelimit-remaining: 0` through `headers`).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox.fake_github.errors import GENERIC_DOCS_URL
from sandbox.fake_github.graphql import GRAPHQL_PATH
from sandbox.fake_github.journal import FAULT_SCOPE_KEY, SEAM_PREFIX
from sandbox.fake_github.paths import canonical_path
from sandbox.fake_github.state import GitHubState

# Key of the ASGI scope under which the app puts the server's transport, if it can find it.
TRANSPORT_SCOPE_KEY = "fake_github.transport"

DEFAULT_MESSAGES = {
    400: "Bad Request",
    401: "Bad credentials",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    422: "Validation Failed",
    429: "API rate limit exceeded",
    500: "Server Error",
    502: "Server Error",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class ConnectionDropped(RuntimeError):
    """Raised when a drop fault fires on a server whose connection cannot be aborted
    (e.g. an in-process ASGI transport): the closest a client can get to a reset."""


@dataclass
class Fault:
    """One injected fault and how many more calls it will hit."""

    path: str
    method: str | None = None
    status: int = 502
    drop: bool = False
    times: int = 1
    message: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._pattern = re.compile(self.path)
        self.method = self.method.upper() if self.method else None
        if self.times < 1:
            raise ValueError("times must be at least 1")

    def matches(self, method: str, paths: Iterable[str]) -> bool:
        """Whether a call is hit by this fault (the regex must match one path in full)."""
        return (self.method is None or self.method == method.upper()) and any(
            self._pattern.fullmatch(path) for path in paths
        )

    def body(self, path: str = "") -> dict[str, Any]:
        """The GitHub-like error body answered for a status fault on `path`."""
        if path == GRAPHQL_PATH and self.status == 200:
            # GitHub's GraphQL API refuses a query over the rate limit in the body, not
            # with the status.
            message = self.message or "API rate limit already exceeded for user ID 1."
            return {
                "errors": [{"type": "RATE_LIMIT", "code": "graphql_rate_limit", "message": message}]
            }
        return {
            "message": self.message or DEFAULT_MESSAGES.get(self.status, "Error"),
            "documentation_url": GENERIC_DOCS_URL,
            "status": str(self.status),
        }

    def to_json(self) -> dict[str, Any]:
        """The fault as plain JSON (what `GET /_fake/faults` lists)."""
        return asdict(self)


class FaultPlan:
    """The faults still armed, first added first served; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        """Arm a fault."""
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[Fault]:
        """The faults still armed."""
        with self._lock:
            return list(self._faults)

    def take(self, method: str, paths: Iterable[str]) -> Fault | None:
        """The first fault hitting a call to any of `paths` (the forms of one path), counting
        the hit and disarming the fault when spent."""
        paths = tuple(paths)
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, paths):
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
            return None


class FaultMiddleware:
    """ASGI layer answering or dropping calls hit by an armed fault."""

    def __init__(self, app: ASGIApp, plan: FaultPlan, state: GitHubState) -> None:
        self.app = app
        self.plan = plan
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(SEAM_PREFIX):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        fault = self.plan.take(scope["method"], {path, canonical_path(self.state, path)})
        if fault is None:
            await self.app(scope, receive, send)
            return
        if fault.drop:
            scope[FAULT_SCOPE_KEY] = "drop"
            await _drop_connection(scope, receive)
            return
        scope[FAULT_SCOPE_KEY] = "status"
        body = json.dumps(fault.body(path)).encode()
        headers = [
            (b"content-type", b"application/json; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
        ]
        headers += [
            (key.lower().encode("latin-1"), value.encode("latin-1"))
            for key, value in fault.headers.items()
        ]
        await send({"type": "http.response.start", "status": fault.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _drop_connection(scope: Scope, receive: Receive) -> None:
    transport = scope.get(TRANSPORT_SCOPE_KEY)
    if transport is None:
        raise ConnectionDropped("fault injection dropped the connection")
    # abort() closes the socket at once, without a response; the client reads EOF or a reset.
    transport.abort()
    # Wait for the server to notice, so it does not try to answer the closed connection.
    while (await receive())["type"] != "http.disconnect":
        pass
