"""`paved export backstage`: files, YAML on stdout, `--json` (on SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from sqlalchemy import Engine
from typer.testing import CliRunner

from paved.export_cli import KIND_FILES, LOCATION_FILE, export_backstage
from registry import queries
from registry.db import session_scope
from registry.models import ServiceStatus
from registry.seed import apply_seed
from tests.registry import conftest as registry_fixtures
from tests.registry.test_backstage import populate_registry

# The registry fixtures (SQLite and PostgreSQL), as in tests/registry: pytest finds
# fixtures in a test module by attribute name.
sqlite_template = registry_fixtures.sqlite_template
postgres_server = registry_fixtures.postgres_server
postgres_admin = registry_fixtures.postgres_admin
postgres_registry = registry_fixtures.postgres_registry
registry_url = registry_fixtures.registry_url
engine = registry_fixtures.engine
seed_data = registry_fixtures.seed_data

# The command alone, as `paved export backstage` runs it (cli.py registers it).
cli = typer.Typer()
cli.command()(export_backstage)


@pytest.fixture
def env(engine: Engine, registry_url: str, seed_data: Any, tmp_path: Path) -> dict[str, str]:
    """PAVED_* settings of a committed, realistic registry."""
    with session_scope(engine) as session:
        apply_seed(session, seed=seed_data)
        populate_registry(session)
    return {"PAVED_HOME": str(tmp_path / "home"), "PAVED_REGISTRY_URL": registry_url}


def test_out_writes_one_file_per_kind_and_a_location(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "catalog"
    result = CliRunner().invoke(cli, ["--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    assert sorted(path.name for path in out.iterdir()) == sorted(
        [*KIND_FILES.values(), LOCATION_FILE]
    )
    for kind, filename in KIND_FILES.items():
        documents = list(yaml.safe_load_all((out / filename).read_text(encoding="utf-8")))
        assert documents and {document["kind"] for document in documents} == {kind}
    [location] = yaml.safe_load_all((out / LOCATION_FILE).read_text(encoding="utf-8"))
    assert location["spec"]["targets"] == [f"./{name}" for name in KIND_FILES.values()]
    assert "components.yaml" in result.output
    assert LOCATION_FILE in result.output


def test_json_prints_the_entities(env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["--json"], env=env)
    assert result.exit_code == 0, result.output
    entities = json.loads(result.stdout)
    names = {(entity["kind"], entity["metadata"]["name"]) for entity in entities}
    assert {("Group", "payments"), ("User", "erin"), ("Component", "orders")} <= names


def test_without_out_the_yaml_goes_to_stdout(env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, [], env=env)
    assert result.exit_code == 0, result.output
    documents = list(yaml.safe_load_all(result.stdout))
    as_json = json.loads(CliRunner().invoke(cli, ["--json"], env=env).stdout)
    assert documents == as_json


def test_a_second_export_leaves_no_stale_entities(
    env: dict[str, str], engine: Engine, tmp_path: Path
) -> None:
    out = tmp_path / "catalog"
    assert CliRunner().invoke(cli, ["--out", str(out)], env=env).exit_code == 0
    with session_scope(engine) as session:
        queries.set_service_status(session, name="checkout", status=ServiceStatus.RETIRED)
    result = CliRunner().invoke(cli, ["--out", str(out), "--json"], env=env)
    assert result.exit_code == 0, result.output
    components = list(yaml.safe_load_all((out / "components.yaml").read_text(encoding="utf-8")))
    assert [c["metadata"]["name"] for c in components] == ["orders"]
    assert [e for e in json.loads(result.stdout) if e["kind"] == "Component"] == components


def test_invalid_settings_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, [], env={"PAVED_HOME": str(tmp_path), "PAVED_PREFECT_PORT": "0"}
    )
    assert result.exit_code == 2
    assert "Invalid PAVED_* settings" in result.output
