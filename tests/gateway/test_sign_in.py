"""Who is asking: no credential, a token GitHub refuses, a person the registry does not
know or who left are all refused with how to sign in; Prefect's own port wants the auth
string; `paved login` checks and stores a token."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paved.cli import app as paved_app
from tests.gateway.conftest import DEACTIVATED, GATEWAY_GROUP, STRANGER, Gateway, PrefectServer

pytestmark = GATEWAY_GROUP

UNKNOWN_TOKEN = "gho_" + "0" * 36


def test_no_credential_is_told_how_to_sign_in(gateway: Gateway) -> None:
    with gateway.api() as api:
        answer = api.post("/flow_runs/filter", json={})
    assert answer.status_code == 401
    detail = answer.json()["detail"]
    assert "You are not signed in" in detail
    assert "Sign in" in detail
    assert f"{gateway.url}/auth/login" in detail
    assert "paved login" in detail


def test_a_token_github_refuses_is_401(gateway: Gateway) -> None:
    with gateway.api(token=UNKNOWN_TOKEN) as api:
        answer = api.post("/flow_runs/filter", json={})
    assert answer.status_code == 401
    assert "GitHub does not accept this token" in answer.json()["detail"]
    assert f"{gateway.url}/auth/login" in answer.json()["detail"]


def test_a_github_person_unknown_to_the_registry_is_401_by_name(gateway: Gateway) -> None:
    with gateway.api(STRANGER) as api:
        answer = api.get("/deployments/filter")
        flows = api.post("/flows/filter", json={})
    assert answer.status_code == 401
    assert flows.status_code == 401
    detail = flows.json()["detail"]
    assert f"GitHub says you are {STRANGER}, who is not a person in Paved's registry" in detail
    assert "/auth/login" in detail


def test_a_deactivated_person_is_401_by_name(gateway: Gateway) -> None:
    with gateway.api(DEACTIVATED) as api:
        answer = api.post("/flow_runs/filter", json={})
    assert answer.status_code == 401
    assert (
        f"GitHub says you are {DEACTIVATED}, who is not an active person" in answer.json()["detail"]
    )


def test_prefects_own_port_wants_the_auth_string(prefect_server: PrefectServer) -> None:
    with prefect_server.client(authenticated=False) as bare:
        refused = bare.post("/flow_runs/filter", json={})
    with prefect_server.client() as worker:
        allowed = worker.post("/flow_runs/filter", json={})
    assert refused.status_code == 401
    assert allowed.status_code == 200


def test_health_needs_no_credential(gateway: Gateway) -> None:
    with gateway.api() as api:
        answer = api.get("/health")
    assert answer.status_code == 200
    assert answer.json() is True


def test_whoami(gateway: Gateway) -> None:
    with gateway.web() as web:
        dave = web.get(
            "/_paved/whoami", headers={"Authorization": f"Bearer {gateway.token('dave')}"}
        )
        alice = web.get(
            "/_paved/whoami", headers={"Authorization": f"Bearer {gateway.token('alice')}"}
        )
        nobody = web.get("/_paved/whoami")
    assert dave.status_code == 200
    assert dave.json() == {"handle": "dave", "admin": False, "teams": ["payments"]}
    assert alice.status_code == 200
    assert alice.json()["handle"] == "alice"
    assert alice.json()["admin"] is True
    assert nobody.status_code == 401
    assert "You are not signed in" in nobody.json()["detail"]


@pytest.fixture
def paved_env(gateway: Gateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`paved` pointed at the test gateway; its credentials file under tmp_path."""
    port = gateway.url.rsplit(":", 1)[1]
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("PAVED_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PAVED_HOST", "127.0.0.1")
    monkeypatch.setenv("PAVED_GATEWAY_PORT", port)
    for name in ("PAVED_TOKEN", "GITHUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "config" / "paved" / "credentials.json"


def test_paved_login_stores_the_token_for_its_owner_only(gateway: Gateway, paved_env: Path) -> None:
    result = CliRunner().invoke(paved_app, ["login", "--token", gateway.token("dave")])
    assert result.exit_code == 0, result.output
    assert f"Signed in to {gateway.url} as dave." in result.output
    assert stat.S_IMODE(os.stat(paved_env).st_mode) == 0o600
    assert gateway.token("dave") in paved_env.read_text()


def test_paved_login_with_a_bad_token_says_why(gateway: Gateway, paved_env: Path) -> None:
    result = CliRunner().invoke(paved_app, ["login", "--token", UNKNOWN_TOKEN])
    assert result.exit_code == 1
    assert "GitHub does not accept this token" in result.output
    assert not paved_env.exists()
