"""The sink's HTTP server: the standard library's, one thread per request, memory only."""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["KEPT_HEADERS", "MAX_BODY_BYTES", "Message", "SinkServer", "serve_in_thread"]

# Headers worth showing: what sent the message and how it is encoded; never credentials.
KEPT_HEADERS = ("content-type", "user-agent", "content-length")
MAX_BODY_BYTES = 1_000_000


@dataclass(frozen=True)
class Message:
    """One message the sink received."""

    id: int
    recipient: str
    received_at: str
    body: Any
    """The decoded JSON body, or the text when it is not JSON."""
    headers: dict[str, str]


class SinkServer(ThreadingHTTPServer):
    """Records what is POSTed to /hooks/{recipient}; answers the /_sink control API."""

    daemon_threads = True

    def __init__(self, host: str, port: int) -> None:
        super().__init__((host, port), _Handler)
        self.messages: list[Message] = []
        self.faults: list[int] = []
        """HTTP statuses the next hooks answer with, one per hook, instead of recording."""
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def record(self, recipient: str, body: Any, headers: dict[str, str]) -> Message:
        with self.lock:
            message = Message(
                id=len(self.messages) + 1,
                recipient=recipient,
                received_at=datetime.now(UTC).isoformat(),
                body=body,
                headers=headers,
            )
            self.messages.append(message)
            return message

    def listed(self, recipient: str | None) -> list[Message]:
        with self.lock:
            return [m for m in self.messages if recipient is None or m.recipient == recipient]

    def clear(self) -> int:
        with self.lock:
            count = len(self.messages)
            self.messages.clear()
            self.faults.clear()
            return count

    def next_fault(self) -> int | None:
        with self.lock:
            return self.faults.pop(0) if self.faults else None


class _Handler(BaseHTTPRequestHandler):
    server: SinkServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        # Message bodies may hold one-time codes: log the request line only.
        print(f"{self.address_string()} {args[0] if args else ''}", flush=True)

    def _reply(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _path(self) -> tuple[list[str], dict[str, list[str]]]:
        parts = urlsplit(self.path)
        segments = [unquote(s) for s in parts.path.split("/") if s]
        return segments, parse_qs(parts.query)

    def do_GET(self) -> None:
        segments, query = self._path()
        if segments == ["_sink", "health"]:
            self._reply(HTTPStatus.OK, {"status": "ok", "messages": len(self.server.listed(None))})
        elif segments == ["_sink", "messages"]:
            to = query.get("to", [None])[0]
            self._reply(HTTPStatus.OK, [asdict(m) for m in self.server.listed(to)])
        else:
            self._reply(HTTPStatus.NOT_FOUND, {"message": "Not Found"})

    def do_DELETE(self) -> None:
        segments, _ = self._path()
        if segments == ["_sink", "messages"]:
            self._reply(HTTPStatus.OK, {"deleted": self.server.clear()})
        else:
            self._reply(HTTPStatus.NOT_FOUND, {"message": "Not Found"})

    def do_POST(self) -> None:
        segments, _ = self._path()
        if segments == ["_sink", "faults"]:
            self._add_faults()
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"message": "body too large"})
            return
        raw = self.rfile.read(length) if length else b""
        if len(segments) != 2 or segments[0] != "hooks" or not segments[1]:
            self._reply(HTTPStatus.NOT_FOUND, {"message": "POST to /hooks/{recipient}"})
            return
        fault = self.server.next_fault()
        if fault is not None:
            self._reply(fault, {"message": "fault injected by the test"})
            return
        text = raw.decode("utf-8", errors="replace")
        try:
            body: Any = json.loads(text) if text else ""
        except json.JSONDecodeError:
            body = text
        headers = {name: self.headers[name] for name in KEPT_HEADERS if name in self.headers}
        message = self.server.record(segments[1], body, headers)
        self._reply(HTTPStatus.OK, {"id": message.id})

    def _add_faults(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            spec = json.loads(self.rfile.read(length) or b"{}")
            status, times = int(spec["status"]), int(spec.get("times", 1))
        except (ValueError, KeyError, TypeError):
            self._reply(HTTPStatus.BAD_REQUEST, {"message": 'send {"status": 503, "times": 1}'})
            return
        with self.server.lock:
            self.server.faults.extend([status] * times)
        self._reply(HTTPStatus.OK, {"faults": len(self.server.faults)})

    # Webhooks may be PUT or PATCH too (CustomWebhookNotificationBlock.method).
    do_PUT = do_POST
    do_PATCH = do_POST


def serve_in_thread(host: str = "127.0.0.1", port: int = 0) -> SinkServer:
    """A sink serving from a daemon thread (for tests); `shutdown()` stops it."""
    server = SinkServer(host, port)
    threading.Thread(target=server.serve_forever, name="webhook-sink", daemon=True).start()
    return server
