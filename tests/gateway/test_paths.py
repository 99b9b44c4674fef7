"""Paths written so that the gateway and Prefect could read them differently: the rules
must decide on the path Prefect routes on (percent-decoded; dot segments, which the
forwarding HTTP client would remove, refused)."""

from __future__ import annotations

import json
import socket
import uuid
from urllib.parse import urlsplit

import pytest

from tests.gateway.conftest import GATEWAY_GROUP, Gateway, PrefectServer

pytestmark = GATEWAY_GROUP


def _raw(gateway: Gateway, method: str, target: str, *, token: str, body: object) -> int:
    """Send `target` byte for byte (HTTP clients normalize it); the status answered."""
    parts = urlsplit(gateway.url)
    assert parts.hostname is not None and parts.port is not None
    payload = json.dumps(body).encode()
    head = (
        f"{method} {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head + payload)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return int(received.split(b" ", 2)[1])


@pytest.mark.parametrize(
    ("target", "status"),
    [
        ("/./api/variables/", 400),
        ("/ui/../api/variables/", 400),
        ("/api/./variables/", 400),
        ("/%2e/api/variables/", 400),
        ("/%61pi/variables/", 403),
        ("/api/%76ariables/", 403),
    ],
)
def test_a_path_written_differently_gets_the_same_rules(
    gateway: Gateway, prefect_server: PrefectServer, target: str, status: int
) -> None:
    name = f"paths_{uuid.uuid4().hex[:12]}"
    answered = _raw(
        gateway, "POST", target, token=gateway.token("dave"), body={"name": name, "value": "x"}
    )
    assert answered == status
    with prefect_server.client() as prefect:
        assert prefect.get(f"/variables/name/{name}").status_code == 404


def test_a_percent_encoded_path_is_read_as_prefect_reads_it(
    gateway: Gateway, prefect_server: PrefectServer
) -> None:
    name = f"paths_{uuid.uuid4().hex[:12]}"
    status = _raw(
        gateway,
        "POST",
        "/api/%76ariables/",
        token=gateway.token("alice"),
        body={"name": name, "value": "x"},
    )
    assert status == 201
    with prefect_server.client() as prefect:
        assert prefect.get(f"/variables/name/{name}").status_code == 200
