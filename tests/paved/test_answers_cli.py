"""`paved deps`, `dependents`, `services`, `resources`, `orphans`, `people deactivate`
against a SQLite registry, through typer's runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from paved import answers_cli
from registry import queries
from registry.db import make_engine, migrate, session_scope
from registry.seed import apply_seed, load_seed

SEED_FILE = Path(__file__).resolve().parents[2] / "sandbox" / "seed.yaml"

# Registered as paved/cli.py registers them.
app = typer.Typer()
app.command("deps")(answers_cli.deps)
app.command("dependents")(answers_cli.dependents)
app.command("services")(answers_cli.services)
app.command("resources")(answers_cli.resources)
app.command("orphans")(answers_cli.orphans)
people = typer.Typer()
people.command("deactivate")(answers_cli.people_deactivate)
app.add_typer(people, name="people")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry with the sandbox seed, web -> api -> web, api -> a topic, a stray bucket."""
    path = tmp_path_factory.mktemp("answers-cli") / "registry.db"
    url = f"sqlite:///{path}"
    migrate(url)
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            apply_seed(session, seed=load_seed(SEED_FILE))
            queries.get_or_create_service(session, name="web", team="platform", owner="bob")
            queries.get_or_create_service(
                session, name="api", team="payments", owner="carol", oncall="dave"
            )
            queries.upsert_resource(
                session,
                service="api",
                provider="kafka",
                kind="kafka_topic",
                name="api.events.v1",
                external_id="api.events.v1",
                status="active",
            )
            queries.upsert_resource(
                session,
                service=None,
                provider="aws",
                kind="s3_bucket",
                name="acme-stray",
                status="active",
            )
            queries.add_dependency(session, service="web", depends_on_service="api")
            queries.add_dependency(session, service="api", depends_on_service="web")
            queries.add_dependency(
                session,
                service="api",
                depends_on_resource=("kafka", "kafka_topic", "api.events.v1"),
            )
    finally:
        engine.dispose()
    return path


@pytest.fixture
def env(template: Path, tmp_path: Path) -> dict[str, str]:
    registry = tmp_path / "registry.db"
    registry.write_bytes(template.read_bytes())
    return {"PAVED_HOME": str(tmp_path / "home"), "PAVED_REGISTRY_URL": f"sqlite:///{registry}"}


def _run(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.output


def _json(env: dict[str, str], *args: str) -> object:
    code, output = _run(env, *args, "--json")
    assert code == 0, output
    return json.loads(output)


def test_deps_direct_and_transitive(env: dict[str, str]) -> None:
    direct = _json(env, "deps", "web")
    assert [(row["service"], row["target"], row["depth"]) for row in direct] == [("web", "api", 1)]
    closure = _json(env, "deps", "web", "--transitive")
    assert [(row["service"], row["target"], row["depth"]) for row in closure] == [
        ("web", "api", 1),
        ("api", "api.events.v1", 2),
        ("api", "web", 2),
    ]
    code, output = _run(env, "deps", "web", "--transitive")
    assert code == 0
    assert "api.events.v1" in output
    assert "kafka/kafka_topic" in output


def test_dependents_of_a_resource(env: dict[str, str]) -> None:
    rows = _json(env, "dependents", "api.events.v1")
    assert [(row["service"], row["target"], row["depth"]) for row in rows] == [
        ("api", "api.events.v1", 1),
        ("web", "api", 2),
        ("api", "web", 3),
    ]


def test_unknown_service_or_thing_exits_1(env: dict[str, str]) -> None:
    code, output = _run(env, "deps", "nope")
    assert code == 1
    assert "no service 'nope'" in output
    code, output = _run(env, "dependents", "nope", "--json")
    assert code == 1
    assert "no service or resource 'nope'" in output


def test_services_and_resources(env: dict[str, str]) -> None:
    listed = _json(env, "services", "--team", "payments")
    assert [(row["name"], row["owner"], row["oncall"]) for row in listed] == [
        ("api", "carol", "dave")
    ]
    assert [row["name"] for row in _json(env, "services", "--owner", "bob")] == ["web"]
    assert [row["name"] for row in _json(env, "resources", "--kind", "s3_bucket")] == ["acme-stray"]
    assert [row["name"] for row in _json(env, "resources", "--service", "api")] == ["api.events.v1"]
    code, output = _run(env, "services")
    assert code == 0
    assert "carol" in output
    code, output = _run(env, "resources", "--status", "gone")
    assert code == 2
    assert "resource status 'gone'" in output


def test_orphans_then_deactivate(env: dict[str, str]) -> None:
    assert [(row["name"], row["reason"]) for row in _json(env, "orphans")] == [
        ("acme-stray", "resource has no service")
    ]
    report = _json(env, "people", "deactivate", "bob", "--requester", "alice")
    assert isinstance(report, dict)
    assert report["handle"] == "bob"
    assert [
        (need["role"], need["subject"], need["suggested"]) for need in report["needs_new_person"]
    ] == [
        ("owner", "web", "alice"),
        ("oncall", "web", "alice"),
    ]
    # Committed: a new command sees bob gone and web orphaned.
    assert [(row["name"], row["reason"]) for row in _json(env, "orphans")] == [
        ("web", "owner deactivated"),
        ("acme-stray", "resource has no service"),
    ]
    code, output = _run(env, "people", "deactivate", "bob", "--requester", "alice")
    assert code == 0
    assert "was already inactive" in output
    assert "suggested" in output


def test_deactivating_an_unknown_person_exits_1(env: dict[str, str]) -> None:
    code, output = _run(env, "people", "deactivate", "zed", "--requester", "alice")
    assert code == 1
    assert "no person 'zed'" in output
