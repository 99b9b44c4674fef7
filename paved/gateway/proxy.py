"""Passing calls on to Prefect: HTTP (buffered) and websockets (pumped both ways).

Prefect's server requires its auth string on every call but `/api/health` and `/api/ready`;
only the gateway (and the stack's workers) hold it, so whatever a person sends as
`Authorization` or cookies stays here and Prefect sees the gateway's credential.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from typing import Any

import httpx
import websockets
from starlette.websockets import WebSocket, WebSocketDisconnect

__all__ = ["PrefectUpstream", "UpstreamUnavailable", "basic_credential", "pump_websocket"]

# Headers that belong to one connection, or that the gateway sets itself.
_DROPPED_REQUEST_HEADERS = {
    "host",
    "connection",
    "keep-alive",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "authorization",
    "cookie",
    "content-length",
    "accept-encoding",
}
_DROPPED_RESPONSE_HEADERS = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-encoding",
    "content-length",
    "set-cookie",
}


# Prefect answers 503 when its database refused the transaction (SQLite's "database is
# locked" under concurrent writes): nothing was written, and Prefect's own client retries
# every method on it. The gateway does the same, briefly, so a person clicking "Run" in
# the UI (which does not retry) does not get "Something went wrong" for a busy moment.
_RETRY_STATUS = 503
_RETRY_DELAYS = (0.1, 0.2, 0.4, 0.8, 1.6)

# A call that never left (no connection, or none free) may be sent again, whatever it is;
# so may one that changes nothing. A POST whose connection broke after it was sent may have
# been done: it is not repeated, and the caller is told so (a 502 that says it).
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class UpstreamUnavailable(Exception):
    """Prefect's server gave no answer to a call; the message says whether it may have
    been done."""


def basic_credential(auth_string: str) -> str:
    """The `Authorization` value Prefect expects for its auth string."""
    return "Basic " + base64.b64encode(auth_string.encode()).decode()


class PrefectUpstream:
    """Prefect's server, reached with the gateway's credential."""

    def __init__(self, base_url: str, *, auth_string: str, client: httpx.AsyncClient) -> None:
        self.base_url = base_url.rstrip("/")
        self._auth_string = auth_string
        self._authorization = basic_credential(auth_string)
        self._client = client

    async def get_json(self, path: str) -> Any:
        """GET `/api<path>` and return its JSON (raises on an error status, and
        UpstreamUnavailable when Prefect's server does not answer)."""
        response = await self.send(
            method="GET", path=f"/api{path}", query="", headers=[], body=b"", forwarded_for=None
        )
        response.raise_for_status()
        return response.json()

    async def send(
        self,
        *,
        method: str,
        path: str,
        query: str,
        headers: list[tuple[str, str]],
        body: bytes,
        forwarded_for: str | None,
    ) -> httpx.Response:
        """Pass one HTTP call on; the response is read whole (Prefect's answers are small)."""
        upstream_headers = [
            (name, value) for name, value in headers if name.lower() not in _DROPPED_REQUEST_HEADERS
        ]
        upstream_headers.append(("Authorization", self._authorization))
        if forwarded_for:
            upstream_headers.append(("X-Forwarded-For", forwarded_for))
        url = f"{self.base_url}{path}" + (f"?{query}" if query else "")
        delays = iter(_RETRY_DELAYS)
        while True:
            try:
                response = await self._client.request(
                    method, url, headers=upstream_headers, content=body
                )
            except httpx.TransportError as exc:
                resendable = isinstance(exc, _NEVER_SENT) or method.upper() in _SAFE_METHODS
                if not resendable or (delay := next(delays, None)) is None:
                    raise UpstreamUnavailable(_unanswered(method, path, exc)) from exc
            else:
                if response.status_code != _RETRY_STATUS or (delay := next(delays, None)) is None:
                    return response
            await asyncio.sleep(delay)

    def websocket_url(self, path: str, query: str) -> str:
        url = self.base_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        return f"{url}{path}" + (f"?{query}" if query else "")

    def websocket_auth_message(self) -> str:
        """The first message Prefect's websockets expect: its auth string as the token."""
        return json.dumps({"type": "auth", "token": self._auth_string})


def _unanswered(method: str, path: str, error: httpx.TransportError) -> str:
    cause = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    if isinstance(error, _NEVER_SENT):
        return f"Prefect's server cannot be reached ({cause}); {method} {path} was not sent"
    if method.upper() in _SAFE_METHODS:
        return f"Prefect's server gave no answer to {method} {path} ({cause})"
    return (
        f"Prefect's server gave no answer to {method} {path} ({cause}); it may have been "
        "done: look before sending it again"
    )


def response_headers(response: httpx.Response) -> dict[str, str]:
    """The upstream response's headers a browser or client should see."""
    return {
        name: value
        for name, value in response.headers.items()
        if name.lower() not in _DROPPED_RESPONSE_HEADERS
    }


async def pump_websocket(client: WebSocket, upstream_url: str, *, first_message: str) -> None:
    """Connect to Prefect's websocket at `upstream_url`, send `first_message` (the auth
    message), then relay messages both ways until either side closes."""
    async with websockets.connect(
        upstream_url, subprotocols=[websockets.Subprotocol("prefect")], open_timeout=10
    ) as upstream:
        await upstream.send(first_message)

        async def client_to_upstream() -> None:
            with contextlib.suppress(WebSocketDisconnect):
                while True:
                    message = await client.receive()
                    if message["type"] == "websocket.disconnect":
                        return
                    if message.get("text") is not None:
                        await upstream.send(message["text"])
                    elif message.get("bytes") is not None:
                        await upstream.send(message["bytes"])

        async def upstream_to_client() -> None:
            with contextlib.suppress(websockets.ConnectionClosed):
                async for message in upstream:
                    if isinstance(message, str):
                        await client.send_text(message)
                    else:
                        await client.send_bytes(message)

        tasks = [
            asyncio.create_task(client_to_upstream()),
            asyncio.create_task(upstream_to_client()),
        ]
        _done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        with contextlib.suppress(Exception):
            await client.close()
