"""The request journal: every API call the fake received, with what it answered.

Tests read it (`GET /_fake/requests`) to assert what a flow did to GitHub, e.g. "the fake
saw no write" after a request that should fail validation before any side effect. The
journal sits outside every other layer, so faulted and dropped calls are journaled too.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.fake_github.graphql import GRAPHQL_PATH

SEAM_PREFIX = "/_fake"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Key of the ASGI scope under which the fault layer notes what it did to a call.
FAULT_SCOPE_KEY = "fake_github.fault"


@dataclass(frozen=True)
class JournalEntry:
    """One API call: the request as received and the answer as sent."""

    method: str
    path: str
    query: dict[str, str]
    write: bool
    timestamp: str
    body: Any
    status: int | None  # None when the connection was dropped without an answer
    response_body: Any
    request_content_type: str | None
    response_content_type: str | None
    accept: str | None
    fault: str | None  # "status" or "drop" when an injected fault answered instead

    def to_json(self) -> dict[str, Any]:
        """The entry as plain JSON."""
        return asdict(self)


class RequestJournal:
    """A thread-safe, append-only (until cleared) list of `JournalEntry`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[JournalEntry] = []

    def record(self, entry: JournalEntry) -> None:
        """Append one entry."""
        with self._lock:
            self._entries.append(entry)

    def entries(self, *, writes_only: bool = False) -> list[JournalEntry]:
        """The entries in arrival order, optionally only the writes (non-GET calls)."""
        with self._lock:
            return [entry for entry in self._entries if entry.write or not writes_only]

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()


def _decode_json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", errors="replace")


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class JournalMiddleware:
    """ASGI layer recording every non-seam HTTP call into a `RequestJournal`."""

    def __init__(self, app: ASGIApp, journal: RequestJournal) -> None:
        self.app = app
        self.journal = journal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(SEAM_PREFIX):
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        request_body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            # The app reads the body we already consumed; after that, the real channel
            # (which reports the client's disconnect).
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": request_body, "more_body": False}
            return await receive()

        status: int | None = None
        response_headers: list[tuple[bytes, bytes]] = []
        response_chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status, response_headers
            if message["type"] == "http.response.start":
                status = message["status"]
                response_headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                response_chunks.append(message.get("body", b""))
            await send(message)

        scope[FAULT_SCOPE_KEY] = None
        try:
            await self.app(scope, replay, capture)
        finally:
            headers = list(scope.get("headers", []))
            method = scope["method"]
            self.journal.record(
                JournalEntry(
                    method=method,
                    path=scope["path"],
                    query=dict(
                        parse_qsl(
                            scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True
                        )
                    ),
                    # GraphQL is POSTed, but the fake serves queries only, never mutations.
                    write=method not in READ_METHODS and scope["path"] != GRAPHQL_PATH,
                    timestamp=datetime.now(UTC).isoformat(timespec="milliseconds"),
                    body=_decode_json(request_body),
                    status=status,
                    response_body=_decode_json(b"".join(response_chunks)),
                    request_content_type=_header(headers, b"content-type"),
                    response_content_type=_header(response_headers, b"content-type"),
                    accept=_header(headers, b"accept"),
                    fault=scope.get(FAULT_SCOPE_KEY),
                )
            )
