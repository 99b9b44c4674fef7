"""The gateway retries Prefect's 503 (its database refused the transaction) briefly, and
answers 502 with what happened when Prefect's server gives no answer at all.

Unit tests with httpx's MockTransport, for the cases the real server cannot be made to
produce on demand: SQLite's "database is locked" under concurrent writers (CI hit it, and
the UI showed "Something went wrong" for a Run click), and a connection that breaks after
the call was sent (a burst of 50 on the SQLite stack got httpx.ReadError, which was a 500).
The last test runs a real gateway in front of a port where nothing listens.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from paved.gateway.app import create_app
from paved.gateway.proxy import PrefectUpstream, UpstreamUnavailable
from sandbox.fake_github import ServerHandle
from tests.conftest import free_port
from tests.gateway.conftest import gateway_config, serve_app

# What the upstream does with one call: answer with a status, or raise a transport error.
Answer = int | httpx.TransportError


def _upstream(answers: list[Answer], seen: list[httpx.Request]) -> PrefectUpstream:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers.pop(0)
        if isinstance(answer, httpx.TransportError):
            raise answer
        return httpx.Response(answer, json={"ok": True})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return PrefectUpstream("http://prefect", auth_string="secret", client=client)


def _send(upstream: PrefectUpstream, method: str = "POST") -> httpx.Response:
    return asyncio.run(
        upstream.send(
            method=method,
            path="/api/deployments/d/create_flow_run",
            query="",
            headers=[("content-type", "application/json")],
            body=b'{"parameters": {}}',
            forwarded_for=None,
        )
    )


def test_a_busy_database_is_retried_with_the_same_call() -> None:
    seen: list[httpx.Request] = []
    response = _send(_upstream([503, 503, 201], seen))

    assert response.status_code == 201
    assert len(seen) == 3
    assert {request.content for request in seen} == {b'{"parameters": {}}'}
    assert all(request.method == "POST" for request in seen)


def test_a_database_that_stays_busy_is_answered_503_after_a_few_seconds() -> None:
    seen: list[httpx.Request] = []
    response = _send(_upstream([503] * 6, seen))

    assert response.status_code == 503
    assert len(seen) == 6, "the first call and five retries"


def test_other_errors_are_not_retried() -> None:
    for status in (400, 403, 404, 409, 500):
        seen: list[httpx.Request] = []
        assert _send(_upstream([status, 201], seen)).status_code == status
        assert len(seen) == 1


def test_a_post_whose_answer_was_lost_is_not_sent_again() -> None:
    seen: list[httpx.Request] = []
    with pytest.raises(UpstreamUnavailable) as unavailable:
        _send(_upstream([httpx.ReadError("connection reset"), 201], seen))

    assert len(seen) == 1, "it may have been done: sending it again could make a second run"
    assert str(unavailable.value) == (
        "Prefect's server gave no answer to POST /api/deployments/d/create_flow_run "
        "(ReadError: connection reset); it may have been done: look before sending it again"
    )


def test_a_read_whose_answer_was_lost_is_sent_again() -> None:
    seen: list[httpx.Request] = []
    response = _send(_upstream([httpx.RemoteProtocolError("closed"), 200], seen), "GET")

    assert response.status_code == 200
    assert len(seen) == 2


def test_a_call_that_never_left_is_sent_again_and_then_said_so() -> None:
    seen: list[httpx.Request] = []
    assert _send(_upstream([httpx.ConnectError("refused"), 201], seen)).status_code == 201
    assert len(seen) == 2

    seen.clear()
    with pytest.raises(UpstreamUnavailable) as unavailable:
        _send(_upstream([httpx.ConnectError("refused")] * 6, seen))
    assert len(seen) == 6, "the first call and five retries"
    assert str(unavailable.value) == (
        "Prefect's server cannot be reached (ConnectError: refused); "
        "POST /api/deployments/d/create_flow_run was not sent"
    )


def test_a_prefect_server_that_does_not_answer_is_a_502_that_says_so(
    github: ServerHandle, registry_url: str
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    config = gateway_config(
        prefect_url=nowhere, auth_string="unused", github=github, registry_url=registry_url
    )
    url, server, thread = serve_app(create_app(config))
    try:
        answer = httpx.post(
            f"{url}/api/flow_runs/filter",
            json={},
            headers={"Authorization": f"Bearer {github.identity.token_of('dave')}"},
            trust_env=False,
            timeout=30,
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)

    assert answer.status_code == 502
    detail = answer.json()["detail"]
    assert detail.startswith("Prefect's server cannot be reached (ConnectError")
    assert detail.endswith("; POST /api/flow_runs/filter was not sent")
