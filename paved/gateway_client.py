"""Prefect's API through the gateway, spoken with httpx alone.

`paved run` creates and reads flow runs here instead of with Prefect's client: importing
prefect costs a second or more, and a submission should take under one (issue 10/12).
The calls and bodies are those of `prefect.deployments.run_deployment(..., timeout=0)` in
Prefect 3 (read its source to compare): the deployment by name, then `create_flow_run`
with a Scheduled state for now. The gateway reads the person from `Authorization: Bearer
<token>`, as it does for Prefect's client (which sends its API key so).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote
from uuid import uuid4

import httpx

__all__ = [
    "GatewayRefused",
    "GatewayUnreachable",
    "PrefectApi",
    "flow_run_body",
    "scheduled_now",
]

# Statuses Prefect's client retries (it backs off too): the SQLite-backed server answers
# 503 under bursts of writes, and the gateway 502 while the server restarts or when a call
# got no answer (a create_flow_run is then sent again with its idempotency key).
_RETRIED = {429, 502, 503}
_RETRIES = 5
_BACKOFF_SECONDS = 0.5


class GatewayRefused(Exception):
    """The gateway (or Prefect behind it) answered an error; `detail` says why."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(f"{status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail


class GatewayUnreachable(Exception):
    """No answer from the gateway at all."""


def scheduled_now() -> dict[str, Any]:
    """The state run_deployment gives a new run: Scheduled, to start now."""
    return {
        "type": "SCHEDULED",
        "name": "Scheduled",
        "message": None,
        "state_details": {
            "scheduled_time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "traceparent": None,
        },
        "data": None,
    }


def flow_run_body(parameters: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
    """The create_flow_run body `run_deployment(..., idempotency_key=...)` sends: Prefect's
    `DeploymentFlowRunCreate` without its unset fields (tests/paved/test_gateway_client.py
    compares the two). Prefect answers a second call with the same key with the run the
    first one made, so a call retried after a lost answer makes one run, not two."""
    return {
        "state": scheduled_now(),
        "name": None,
        "parameters": parameters,
        "context": {},
        "tags": [],
        "idempotency_key": idempotency_key,
        "parent_task_run_id": None,
        "job_variables": None,
        "labels": {},
    }


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json()["detail"])
    except (ValueError, KeyError, TypeError):
        return response.text or response.reason_phrase


class PrefectApi:
    """Prefect's REST API at `api_url` (the gateway's `/api`), as the holder of `token`."""

    def __init__(self, api_url: str, token: str, *, timeout: float = 30) -> None:
        self._http = httpx.Client(
            base_url=api_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            # Loopback stack: a proxy from the environment would only get in the way.
            trust_env=False,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._http.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """The JSON answer to one call; retries what Prefect's client retries."""
        for attempt in range(_RETRIES + 1):
            try:
                response = self._http.request(method, path, json=body)
            except httpx.TransportError as exc:
                raise GatewayUnreachable(
                    f"the gateway at {self._http.base_url} does not answer "
                    f"({type(exc).__name__}); is the stack up? (`paved status`)"
                ) from exc
            if response.status_code not in _RETRIED or attempt == _RETRIES:
                break
            time.sleep(_BACKOFF_SECONDS * 2**attempt)
        if response.is_error:
            raise GatewayRefused(response.status_code, _detail(response))
        return response.json()

    def deployment_id(self, name: str) -> str:
        """The id of the deployment `flow-name/deployment-name`."""
        flow, _, deployment = name.partition("/")
        found = self._call(
            "GET", f"/deployments/name/{quote(flow, safe=':')}/{quote(deployment, safe=':')}"
        )
        return str(found["id"])

    def create_flow_run(
        self,
        deployment_id: str,
        parameters: dict[str, Any],
        *,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """A new flow run of the deployment, Scheduled for now. One submission is one
        `idempotency_key` (a fresh one unless given), kept across this call's retries."""
        body = flow_run_body(parameters, idempotency_key=idempotency_key or uuid4().hex)
        created: dict[str, Any] = self._call(
            "POST", f"/deployments/{deployment_id}/create_flow_run", body
        )
        return created

    def read_flow_run(self, flow_run_id: str) -> dict[str, Any]:
        run: dict[str, Any] = self._call("GET", f"/flow_runs/{flow_run_id}")
        return run
