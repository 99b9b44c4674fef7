"""`paved` starts light (issue 10/12): each command's module is imported when that command
runs, and no command pays for SQLAlchemy, Prefect or the stack's supervision it does not
use. Fresh processes: the test session has imported everything already."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from paved import cli
from paved.settings import DEFAULT_SEED_FILE, Settings
from sandbox.launch import DEFAULT_SEED_FILE as LAUNCH_SEED_FILE

ROOT = Path(__file__).resolve().parents[2]
# Module trees only some commands need.
HEAVY = ("sqlalchemy", "prefect", "registry", "flows")
# paved's modules of other commands (paved.stack_secrets is part of the settings).
OTHER_COMMANDS = {"paved.stack", "paved.stack_cli", "paved.journal_cli", "paved.catalog_cli"}


def _modules_after(code: str, env: dict[str, str] | None = None) -> set[str]:
    """The modules a fresh interpreter holds after running `code`."""
    script = f"import sys\n{code}\nprint(sorted(sys.modules))\n"
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        env=env,
    )
    return set(ast.literal_eval(done.stdout.strip().splitlines()[-1]))


def _heavy(modules: set[str]) -> set[str]:
    return {m for m in modules if m.startswith(HEAVY)} | (modules & OTHER_COMMANDS)


def test_importing_the_cli_imports_no_command() -> None:
    modules = _modules_after("import paved.cli")
    assert not _heavy(modules)
    assert "httpx" not in modules


def test_who_owns_reads_the_registry_alone(seeded_registry_env: dict[str, str]) -> None:
    code = (
        "from typer.testing import CliRunner\n"
        "from paved.cli import app\n"
        "result = CliRunner().invoke(app, ['who-owns', 'nobody-knows-this', '--json'])\n"
        "assert result.exit_code == 1, result.output\n"
    )
    modules = _modules_after(code, env={**os.environ, **seeded_registry_env})
    # The registry's models and the ownership query, nothing of the rest.
    assert "registry.ownership" in modules
    assert not {m for m in modules if m.startswith(("prefect", "flows"))}
    assert not {"registry.answers", "registry.queries", *OTHER_COMMANDS} & modules


def test_settings_import_neither_the_sandbox_launcher_nor_pydantic_settings() -> None:
    modules = _modules_after("import paved.settings")
    assert not {"sandbox.launch", "httpx", "pydantic_settings"} & modules
    assert DEFAULT_SEED_FILE == LAUNCH_SEED_FILE


def test_settings_read_paved_variables_as_base_settings_did(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Names in any case; arguments over the environment; defaults validated (made absolute).
    monkeypatch.setenv("paved_kafka_port", "19092")
    monkeypatch.setenv("PAVED_WORK_POOL", "from-env")
    monkeypatch.delenv("PAVED_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    settings = Settings(work_pool="given")
    assert settings.kafka_port == 19092
    assert settings.work_pool == "given"
    assert settings.home == tmp_path.resolve() / ".paved"
    monkeypatch.setenv("PAVED_NOTIFY_PORT", "not-a-port")
    with pytest.raises(ValidationError, match="notify_port"):
        Settings()


def test_help_lists_every_command_and_group() -> None:
    shown = CliRunner().invoke(cli.app, ["--help"], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    for name in [*cli._COMMANDS, *cli._GROUPS]:
        assert f" {name} " in shown.output, name


@pytest.mark.parametrize("group", sorted(cli._GROUPS))
def test_every_group_lists_its_commands(group: str) -> None:
    shown = CliRunner().invoke(cli.app, [group, "--help"], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    for name in cli._GROUPS[group][1]:
        assert f" {name} " in shown.output, (group, name)


def test_an_unknown_command_is_refused() -> None:
    refused = CliRunner().invoke(cli.app, ["who-own", "x"])
    assert refused.exit_code == 2
    assert "No such command" in refused.output


def test_who_owns_on_a_registry_never_set_up_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in os.environ if n.startswith("PAVED_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PAVED_HOME", str(tmp_path / ".paved"))

    result = CliRunner().invoke(cli.app, ["who-owns", "orders"])

    assert result.exit_code == 1
    assert "cannot answer: no such table" in result.output
    assert "Start the stack (`make up`)" in result.output
    assert "Traceback" not in result.output
