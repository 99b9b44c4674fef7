"""`paved up`, `paved down`, `paved reset` and `paved status` as a developer types them."""

from __future__ import annotations

import json
import socket

import pytest
from typer.testing import CliRunner

from paved.cli import app
from paved.settings import Settings
from paved.stack import stack_status, start_stack

runner = CliRunner()


def test_status_json_of_a_stopped_stack(settings: Settings) -> None:
    result = runner.invoke(app, ["status", "--json"])

    assert result.exit_code == 1
    document = json.loads(result.stdout)  # stdout holds the JSON and nothing else
    # "database" (issue 10): the mode the stack runs in; SQLite by default, and then the
    # postgres component is not part of the stack.
    assert set(document) == {"components", "home", "database", "topology"}
    assert document["home"] == str(settings.home)
    assert document["database"] == "sqlite"
    assert list(document["components"]) == [
        "gateway",
        "prefect",
        "worker",
        "github",
        "aws",
        "kafka",
        "notify",
        "registry",
    ]
    for component in document["components"].values():
        assert set(component) == {"name", "healthy", "url", "ui_url", "api_url", "pid", "detail"}
        assert component["healthy"] is False
    assert document["components"]["prefect"]["url"] == settings.prefect_api_url
    gateway = document["components"]["gateway"]
    assert (gateway["url"], gateway["api_url"]) == (settings.gateway_url, settings.gateway_api_url)
    assert document["components"]["kafka"]["url"] == settings.kafka_bootstrap
    assert document["components"]["notify"]["url"] == settings.notify_url


def test_status_never_shows_the_registry_password(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAVED_REGISTRY_URL", "postgresql://paved:s3cret-pw@127.0.0.1:1/paved")

    table = runner.invoke(app, ["status"], env={"COLUMNS": "200"})
    document = runner.invoke(app, ["status", "--json"])

    for output in (table.stdout, document.stdout):
        assert "s3cret-pw" not in output
    registry = json.loads(document.stdout)["components"]["registry"]
    assert registry["url"] == "postgresql://paved:***@127.0.0.1:1/paved"


def test_status_table_exits_1_when_unhealthy(settings: Settings) -> None:
    result = runner.invoke(app, ["status"], env={"COLUMNS": "200"})

    assert result.exit_code == 1
    assert "not running" in result.stdout
    assert settings.aws_endpoint_url in result.stdout


def test_down_with_nothing_running(settings: Settings) -> None:
    result = runner.invoke(app, ["down"])

    assert result.exit_code == 0
    assert "Nothing was running." in result.stdout


def test_invalid_settings_exit_2(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAVED_AWS_PORT", "not-a-port")

    result = runner.invoke(app, ["status", "--json"])

    assert result.exit_code == 2
    assert result.stdout == ""
    assert "aws_port" in result.stderr


def test_up_reports_a_taken_port(settings: Settings) -> None:
    # github starts first: with its port taken, `up` stops before anything runs.
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", settings.github_port))
        squatter.listen()
        result = runner.invoke(app, ["up"])

    assert result.exit_code == 1
    assert f"port {settings.github_port} for github is already in use" in result.stderr
    assert "PAVED_GITHUB_PORT" in result.stderr


def test_no_arguments_shows_help() -> None:
    result = runner.invoke(app, [])

    assert "up" in result.output and "down" in result.output and "status" in result.output


def test_reset_asks_first_and_touches_nothing_when_told_no(settings: Settings) -> None:
    start_stack(settings, components=["github", "registry"])
    registry = settings.home / "registry.db"
    before = registry.stat().st_mtime_ns

    result = runner.invoke(app, ["reset"], input="n\n")

    assert result.exit_code == 1
    assert "Every repository, AWS resource, topic and registry row made in it" in result.output
    assert "Nothing was reset." in result.stderr
    assert stack_status(settings).components["github"].healthy  # still running
    assert registry.stat().st_mtime_ns == before


def test_the_registry_wipe_leaves_a_database_migrate_makes_anew(settings: Settings) -> None:
    from registry.db import current_revision, head_revision, migrate, wipe

    start_stack(settings, components=["registry"])
    wipe(settings.registry_url)
    assert current_revision(settings.registry_url) is None
    migrate(settings.registry_url)
    assert current_revision(settings.registry_url) == head_revision()
