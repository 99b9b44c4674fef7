"""The gateway retries Prefect's 503 (its database refused the transaction) briefly.

A unit test with httpx's MockTransport, for the one case the real server cannot be made
to produce on demand: SQLite's "database is locked" under concurrent writers (CI hit it,
and the UI showed "Something went wrong" for a Run click).
"""

from __future__ import annotations

import asyncio

import httpx

from paved.gateway.proxy import PrefectUpstream


def _upstream(answers: list[int], seen: list[httpx.Request]) -> PrefectUpstream:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(answers.pop(0), json={"ok": True})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return PrefectUpstream("http://prefect", auth_string="secret", client=client)


def _send(upstream: PrefectUpstream) -> httpx.Response:
    return asyncio.run(
        upstream.send(
            method="POST",
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
