"""Prefect's websockets through the gateway: the caller is identified by the auth message's
token (as Prefect's client sends it) or the session cookie; reading is for everyone signed
in, the rest for admins."""

from __future__ import annotations

import json

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect
from websockets.sync.connection import Connection

from tests.gateway.conftest import GATEWAY_GROUP, Gateway

pytestmark = GATEWAY_GROUP


def _connect(gateway: Gateway, path: str) -> ClientConnection:
    url = gateway.url.replace("http://", "ws://", 1) + path
    return connect(url, subprotocols=["prefect"], open_timeout=10, close_timeout=5)  # type: ignore[list-item]


def _closed_with(socket: Connection) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as closed:
        socket.recv(timeout=10)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


def test_events_out_relays_prefects_auth_success(gateway: Gateway) -> None:
    with _connect(gateway, "/api/events/out") as socket:
        assert socket.subprotocol == "prefect"
        socket.send(json.dumps({"type": "auth", "token": gateway.token("dave")}))
        answer = json.loads(socket.recv(timeout=15))
        assert answer == {"type": "auth_success"}
        # What Prefect's client sends next: the events it wants (here: none will come).
        socket.send(json.dumps({"type": "filter", "filter": {"event": {"prefix": ["x."]}}}))


def test_events_in_is_for_admins(gateway: Gateway) -> None:
    with _connect(gateway, "/api/events/in") as socket:
        socket.send(json.dumps({"type": "auth", "token": gateway.token("dave")}))
        code, reason = _closed_with(socket)
    assert code == 1008
    assert reason == "/api/events/in is for admins only"


def test_no_token_and_no_cookie_is_closed(gateway: Gateway) -> None:
    with _connect(gateway, "/api/events/out") as socket:
        socket.send(json.dumps({"type": "auth", "token": None}))
        code, reason = _closed_with(socket)
    assert code == 1008
    assert reason.startswith("You are not signed in")
    assert f"{gateway.url}/auth/login" in reason


def test_an_unknown_token_is_closed(gateway: Gateway) -> None:
    with _connect(gateway, "/api/logs/out") as socket:
        socket.send(json.dumps({"type": "auth", "token": "gho_" + "1" * 36}))
        code, reason = _closed_with(socket)
    assert code == 1008
    assert reason.startswith("GitHub does not accept this token")
