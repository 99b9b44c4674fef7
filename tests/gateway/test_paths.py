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


def _raw(
    gateway: Gateway, method: str, target: str, *, token: str, body: object
) -> tuple[int, str]:
    """Send `target` byte for byte (HTTP clients normalize it); the status and the text
    answered."""
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
    return int(received.split(b" ", 2)[1]), received.decode(errors="replace")


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
    answered, _text = _raw(
        gateway, "POST", target, token=gateway.token("dave"), body={"name": name, "value": "x"}
    )
    assert answered == status
    with prefect_server.client() as prefect:
        assert prefect.get(f"/variables/name/{name}").status_code == 404


def test_a_percent_encoded_path_is_read_as_prefect_reads_it(
    gateway: Gateway, prefect_server: PrefectServer
) -> None:
    name = f"paths_{uuid.uuid4().hex[:12]}"
    status, _text = _raw(
        gateway,
        "POST",
        "/api/%76ariables/",
        token=gateway.token("alice"),
        body={"name": name, "value": "x"},
    )
    assert status == 201
    with prefect_server.client() as prefect:
        assert prefect.get(f"/variables/name/{name}").status_code == 200


def test_secret_values_cannot_be_read_around_the_rules(
    gateway: Gateway, prefect_server: PrefectServer
) -> None:
    with prefect_server.client() as prefect:
        block_type = prefect.get("/block_types/slug/secret").json()
        schema = prefect.post(
            "/block_schemas/filter",
            json={"block_schemas": {"block_type_id": {"any_": [block_type["id"]]}}},
        ).json()[0]
        document = prefect.post(
            "/block_documents/",
            json={
                "name": f"paths-{uuid.uuid4().hex[:8]}",
                "block_type_id": block_type["id"],
                "block_schema_id": schema["id"],
                "data": {"value": "not-through-a-side-door"},
            },
        ).json()
    for target in (
        f"/./api/block_documents/{document['id']}?include_secrets=true",
        f"/%61pi/block_documents/{document['id']}?include_secrets=on",
    ):
        status, text = _raw(gateway, "GET", target, token=gateway.token("dave"), body={})
        assert status in (400, 403), target
        assert "not-through-a-side-door" not in text
