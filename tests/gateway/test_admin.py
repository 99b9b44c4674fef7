"""Prefect's configuration through the gateway: secret values go to nobody, every edit is
for admins, and what the UI reads is adapted (no requester field, the API at the gateway)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.gateway.conftest import GATEWAY_GROUP, Deployments, Gateway, PrefectServer

pytestmark = GATEWAY_GROUP

SECRET_VALUE = "hunter2-not-for-anyone"


@pytest.fixture(scope="module")
def secret_block(prefect_server: PrefectServer) -> Callable[[str], str]:
    """Make a Secret block document named `name` (with the auth string, as `paved up` does)
    and return its id."""
    with prefect_server.client() as prefect:
        block_type = prefect.get("/block_types/slug/secret")
        block_type.raise_for_status()
        schemas = prefect.post(
            "/block_schemas/filter",
            json={"block_schemas": {"block_type_id": {"any_": [block_type.json()["id"]]}}},
        )
        schemas.raise_for_status()
        schema_id = schemas.json()[0]["id"]

    def make(name: str) -> str:
        with prefect_server.client() as prefect:
            created = prefect.post(
                "/block_documents/",
                json={
                    "name": name,
                    "block_type_id": block_type.json()["id"],
                    "block_schema_id": schema_id,
                    "data": {"value": SECRET_VALUE},
                },
            )
        created.raise_for_status()
        block_id: str = created.json()["id"]
        return block_id

    return make


@pytest.mark.parametrize("handle", ["dave", "alice"])
def test_secret_values_go_to_nobody(
    gateway: Gateway, secret_block: Callable[[str], str], handle: str
) -> None:
    block_id = secret_block(f"secrets-for-{handle}")
    with gateway.api(handle) as api:
        one = api.get(f"/block_documents/{block_id}", params={"include_secrets": "true"})
        many = api.post("/block_documents/filter", json={"include_secrets": True})
    for answer in (one, many):
        assert answer.status_code == 403
        assert "Secret values of blocks go to nobody" in answer.json()["detail"]
        assert SECRET_VALUE not in answer.text


@pytest.mark.parametrize("value", ["on", "t", "y", "1", "YES", " true"])
def test_every_spelling_of_true_is_refused(
    gateway: Gateway, secret_block: Callable[[str], str], value: str
) -> None:
    block_id = secret_block(f"spelled-{uuid.uuid4().hex[:8]}")
    with gateway.api("dave") as api:
        answer = api.get(f"/block_documents/{block_id}", params={"include_secrets": value})
    assert answer.status_code == 403
    assert SECRET_VALUE not in answer.text


def test_include_secrets_false_reads_obfuscated_values(
    gateway: Gateway, secret_block: Callable[[str], str]
) -> None:
    block_id = secret_block("asked-false")
    with gateway.api("dave") as api:
        answer = api.get(f"/block_documents/{block_id}", params={"include_secrets": "false"})
    assert answer.status_code == 200
    assert answer.json()["data"]["value"] == "********"


def test_block_documents_read_without_secrets_are_obfuscated(
    gateway: Gateway, secret_block: Callable[[str], str]
) -> None:
    block_id = secret_block("obfuscated")
    with gateway.api("dave") as api:
        one = api.get(f"/block_documents/{block_id}")
        many = api.post("/block_documents/filter", json={})
    assert one.status_code == 200
    assert one.json()["data"]["value"] == "********"
    assert many.status_code == 200
    assert block_id in [document["id"] for document in many.json()]
    assert SECRET_VALUE not in one.text + many.text


Edit = tuple[str, str, dict[str, Any] | None]
"""(method, path under /api, JSON body)"""


@pytest.fixture(scope="module")
def edits(prefect_server: PrefectServer, secret_block: Callable[[str], str]) -> list[Edit]:
    """One edit of each kind only admins make, on things that exist."""
    with prefect_server.client() as prefect:
        pool = prefect.post(
            "/work_pools/",
            json={"name": "gateway-tests-pool", "type": "process"},
        )
        assert pool.status_code == 201, pool.text
    return [
        ("PATCH", "/block_documents/{patched}", {"data": {"value": "x"}}),
        ("DELETE", "/block_documents/{deleted}", None),
        ("POST", "/variables/", {"name": "gateway_tests_{who}", "value": "on"}),
        ("PATCH", "/work_pools/gateway-tests-pool", {"description": "edited by {who}"}),
        (
            "POST",
            "/automations/",
            {
                "name": "gateway-tests-{who}",
                "trigger": {
                    "type": "event",
                    "posture": "Reactive",
                    "expect": ["gateway.tests"],
                    "threshold": 1,
                    "within": 0,
                },
                "actions": [{"type": "do-nothing"}],
            },
        ),
        ("POST", "/v2/concurrency_limits/", {"name": "gateway-tests-{who}", "limit": 1}),
    ]


def _send(api: httpx.Client, edit: Edit, *, who: str, blocks: dict[str, str]) -> httpx.Response:
    method, path, body = edit

    def filled(value: Any) -> Any:
        if isinstance(value, str):
            return value.format(who=who, **blocks)
        if isinstance(value, dict):
            return {key: filled(item) for key, item in value.items()}
        if isinstance(value, list):
            return [filled(item) for item in value]
        return value

    return api.request(method, filled(path), json=filled(body) if body is not None else None)


def test_editing_prefects_configuration_is_for_admins(
    gateway: Gateway, edits: list[Edit], secret_block: Callable[[str], str]
) -> None:
    blocks = {"patched": secret_block("patched-by-admin"), "deleted": secret_block("deleted")}
    with gateway.api("dave") as api:
        for edit in edits:
            refused = _send(api, edit, who="dave", blocks=blocks)
            assert refused.status_code == 403, (edit, refused.text)
            detail = refused.json()["detail"]
            assert detail.startswith(f"you are dave; {edit[0]} /api/"), detail
            assert "only admins (members of team platform) may do" in detail
    with gateway.api("alice") as api:
        for edit in edits:
            allowed = _send(api, edit, who="alice", blocks=blocks)
            assert allowed.is_success, (edit, allowed.status_code, allowed.text)


def test_deployments_read_through_the_gateway_do_not_ask_for_the_requester(
    gateway: Gateway, deployments: Deployments, prefect_server: PrefectServer
) -> None:
    with gateway.api("dave") as api:
        one = api.get(f"/deployments/{deployments.action}")
        many = api.post("/deployments/filter", json={})
    with prefect_server.client() as prefect:
        upstream = prefect.get(f"/deployments/{deployments.action}").json()

    def request_schema(deployment: dict[str, Any]) -> dict[str, Any]:
        schema: dict[str, Any] = deployment["parameter_openapi_schema"]["properties"]["request"]
        return schema

    assert "requester" in request_schema(upstream)["properties"]
    assert "requester" in request_schema(upstream)["required"]
    assert one.status_code == 200
    through_gateway = request_schema(one.json())
    assert set(through_gateway["properties"]) == {"team", "name"}
    assert through_gateway["required"] == ["team", "name"]
    listed = [d for d in many.json() if d["id"] == deployments.action]
    assert len(listed) == 1
    assert "requester" not in request_schema(listed[0])["properties"]


def test_the_ui_calls_the_api_at_the_gateway_without_a_password(gateway: Gateway) -> None:
    with gateway.web() as web:
        answer = web.get(
            "/ui-settings", headers={"Authorization": f"Bearer {gateway.token('dave')}"}
        )
    assert answer.status_code == 200
    assert answer.json()["auth"] is None
    assert answer.json()["api_url"] == f"{gateway.url}/api"
