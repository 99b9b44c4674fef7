"""`paved run` speaks Prefect's API with httpx (paved/gateway_client.py): its body must
stay the one Prefect's own `run_deployment` sends, which the gateway and server expect."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prefect.client.schemas.actions import DeploymentFlowRunCreate
from prefect.states import Scheduled, to_state_create

from paved.gateway_client import GatewayUnreachable, PrefectApi, flow_run_body
from tests.conftest import free_port

PARAMETERS = {"request": {"name": "orders", "team": "payments", "requester": "dave"}}
KEY = "3f0c9a4e5b6d4c1e8a2b7d9e0f1a2b3c"


def _run_deployments_body() -> dict[str, object]:
    # As prefect.deployments.flow_runs.run_deployment -> create_flow_run_from_deployment.
    create = DeploymentFlowRunCreate(
        parameters=PARAMETERS,
        context={},
        state=to_state_create(Scheduled(scheduled_time=datetime.now(UTC))),
        tags=[],
        name=None,
        idempotency_key=KEY,
        parent_task_run_id=None,
        job_variables=None,
        labels={},
    )
    return create.model_dump(mode="json", exclude_unset=True)


def test_the_body_is_the_one_run_deployment_sends() -> None:
    ours, theirs = flow_run_body(PARAMETERS, idempotency_key=KEY), _run_deployments_body()
    assert ours.keys() == theirs.keys()
    assert {k: v for k, v in ours.items() if k != "state"} == {
        k: v for k, v in theirs.items() if k != "state"
    }
    assert ours["state"].keys() == theirs["state"].keys()  # type: ignore[attr-defined]
    assert ours["state"]["state_details"].keys() == theirs["state"]["state_details"].keys()  # type: ignore[index]


def test_the_body_is_scheduled_for_now_as_prefect_reads_it() -> None:
    parsed = DeploymentFlowRunCreate.model_validate(flow_run_body(PARAMETERS, idempotency_key=KEY))
    assert parsed.state is not None and parsed.state.type.value == "SCHEDULED"
    assert parsed.state.name == "Scheduled"
    scheduled = parsed.state.state_details.scheduled_time
    assert scheduled is not None
    assert abs(scheduled - datetime.now(UTC)) < timedelta(seconds=5)


def test_a_gateway_that_does_not_answer_says_so() -> None:
    port = free_port()  # nothing listens there
    with (
        PrefectApi(f"http://127.0.0.1:{port}/api", "token") as prefect,
        pytest.raises(GatewayUnreachable, match="does not answer"),
    ):
        prefect.deployment_id("service-create/service:create")
