"""`paved who-owns` tells how far a service and the matched resource got (issue 11): a
half-built service is never shown as if it were whole."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from paved.cli import app
from registry import queries
from registry.db import make_engine, session_scope


@pytest.fixture
def half_built(seeded_registry_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """`crashme`: its repository made, its queue left failed by a crashed run."""
    for name, value in seeded_registry_env.items():
        monkeypatch.setenv(name, value)
    engine = make_engine(seeded_registry_env["PAVED_REGISTRY_URL"])
    with session_scope(engine) as session:
        queries.get_or_create_service(session, name="crashme", team="payments", owner="carol")
        queries.upsert_resource(
            session,
            service="crashme",
            provider="github",
            kind="github_repository",
            name="acme/crashme",
            status="active",
        )
        queries.upsert_resource(
            session,
            service="crashme",
            provider="aws",
            kind="sqs_queue",
            name="crashme-events",
            status="provisioning",
        )
        queries.settle_unfinished(session, service="crashme", error="run r1 crashed: killed")
    engine.dispose()


def test_a_failed_resource_and_its_service_say_so(half_built: None) -> None:
    result = CliRunner().invoke(app, ["who-owns", "crashme-events"], env={"COLUMNS": "200"})

    assert result.exit_code == 0, result.output
    lines = {line.strip("│ ").split("│")[0].strip(): line for line in result.stdout.splitlines()}
    assert "failed: run r1 crashed: killed" in lines["resource status"]
    assert "failed" in lines["service status"]
    assert "crashme is failed: its last run fell short" in result.stderr


def test_json_carries_both_statuses(half_built: None) -> None:
    made = CliRunner().invoke(app, ["who-owns", "acme/crashme", "--json"])
    failed = CliRunner().invoke(app, ["who-owns", "crashme-events", "--json"])

    assert made.exit_code == 0 and failed.exit_code == 0
    made_answer, failed_answer = json.loads(made.stdout), json.loads(failed.stdout)
    assert (made_answer["status"], made_answer["resource_status"]) == ("failed", "active")
    assert failed_answer["resource_status"] == "failed"
    assert failed_answer["resource_error"] == "run r1 crashed: killed"
