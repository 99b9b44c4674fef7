"""`paved findings` and `paved budget set` against a SQLite registry, through typer's runner."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paved.cli import app
from registry import queries
from registry.db import make_engine, migrate, session_scope
from registry.findings import DetectedDrift, sync_findings
from registry.models import DriftClass, Service
from registry.seed import apply_seed, load_seed

SEED_FILE = Path(__file__).resolve().parents[2] / "sandbox" / "seed.yaml"
T0 = datetime(2026, 11, 20, 6, tzinfo=UTC)


def _drift(identifier: str, drift_class: DriftClass, owner: str) -> DetectedDrift:
    return DetectedDrift(
        drift_class=drift_class,
        provider="aws",
        kind="s3_bucket",
        identifier=identifier,
        summary=f"{identifier}: something",
        service="orders",
        team="payments",
        owner=owner,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """orders, with one finding resolved, one open for carol and one open for dave."""
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    migrate(url)
    engine = make_engine(url)
    with session_scope(engine) as session:
        apply_seed(session, seed=load_seed(SEED_FILE))
        queries.get_or_create_service(session, name="orders", team="payments", owner="carol")
        first = [
            _drift("arn:aws:s3:::gone", DriftClass.MISSING, "carol"),
            _drift("arn:aws:s3:::payments-orders-data", DriftClass.MISTAGGED, "carol"),
        ]
        sync_findings(session, detected=first, audited={"aws"}, run_id="r1", now=T0)
        later = [
            _drift("arn:aws:s3:::payments-orders-data", DriftClass.MISTAGGED, "carol"),
            _drift("arn:aws:s3:::payments-scratch", DriftClass.UNMANAGED, "dave"),
        ]
        sync_findings(session, detected=later, audited={"aws"}, run_id="r2", now=T0 + timedelta(1))
    engine.dispose()
    return {"PAVED_HOME": str(tmp_path / "home"), "PAVED_REGISTRY_URL": url}


def _json(env: dict[str, str], *args: str) -> list[dict[str, object]]:
    result = CliRunner().invoke(app, [*args, "--json"], env=env)
    assert result.exit_code == 0, result.output
    rows: list[dict[str, object]] = json.loads(result.output)
    return rows


def test_findings_lists_class_resource_service_owner_and_when(env: dict[str, str]) -> None:
    rows = _json(env, "findings")
    assert [(r["class"], r["resource"], r["owner"], r["resolution"]) for r in rows] == [
        ("missing", "arn:aws:s3:::gone", "carol", "gone"),
        ("mistagged", "arn:aws:s3:::payments-orders-data", "carol", None),
        ("unmanaged", "arn:aws:s3:::payments-scratch", "dave", None),
    ]
    mistagged = rows[1]
    assert mistagged["service"] == "orders"
    assert (mistagged["first_seen"], mistagged["last_seen"]) == (
        T0.isoformat(),
        (T0 + timedelta(1)).isoformat(),
    )


def test_findings_filters(env: dict[str, str]) -> None:
    assert len(_json(env, "findings", "--open")) == 2
    assert [r["resource"] for r in _json(env, "findings", "--open", "--owner", "carol")] == [
        "arn:aws:s3:::payments-orders-data"
    ]
    assert [r["class"] for r in _json(env, "findings", "--class", "unmanaged")] == ["unmanaged"]
    result = CliRunner().invoke(app, ["findings", "--class", "weird"], env=env)
    assert result.exit_code == 2
    assert "drift class 'weird'" in result.output
    table = CliRunner().invoke(app, ["findings", "--open"], env=env)
    assert table.exit_code == 0
    assert "Drift findings (2)" in table.output and "unmanaged" in table.output


def test_budget_set_and_clear(env: dict[str, str]) -> None:
    runner = CliRunner()
    assert (
        runner.invoke(app, ["budget", "set", "99.50", "--service", "orders"], env=env).exit_code
        == 0
    )
    engine = make_engine(env["PAVED_REGISTRY_URL"])
    with session_scope(engine) as session:
        assert session.query(Service).filter_by(name="orders").one().weekly_budget_usd == Decimal(
            "99.50"
        )
    assert (
        runner.invoke(app, ["budget", "set", "none", "--service", "orders"], env=env).exit_code == 0
    )
    with session_scope(engine) as session:
        assert session.query(Service).filter_by(name="orders").one().weekly_budget_usd is None
    engine.dispose()
    as_json = runner.invoke(app, ["budget", "set", "250", "--team", "payments", "--json"], env=env)
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout) == {"service": None, "team": "payments", "weekly_usd": "250"}
    bad = runner.invoke(app, ["budget", "set", "lots", "--team", "payments"], env=env)
    assert bad.exit_code == 2 and "not an amount" in bad.output
    both = runner.invoke(
        app, ["budget", "set", "1", "--team", "payments", "--service", "orders"], env=env
    )
    assert both.exit_code == 2 and "exactly one" in both.output
