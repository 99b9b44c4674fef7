"""`paved domains grant` and `paved domains list` against a SQLite registry."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from paved.cli import app


@pytest.fixture
def env(seeded_registry_env: dict[str, str]) -> dict[str, str]:
    return {**seeded_registry_env, "COLUMNS": "200"}


def _paved(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.output


def test_a_granted_domain_is_listed_once(env: dict[str, str]) -> None:
    assert _paved(env, "domains", "grant", "payments", "billing") == (
        0,
        "✓ team payments may name topics billing.*\n",
    )
    assert _paved(env, "domains", "grant", "payments", "billing")[0] == 0
    code, output = _paved(env, "domains", "list", "payments", "--json")
    assert (code, json.loads(output)) == (0, ["payments", "billing"])


def test_a_domain_is_one_team_s_and_paved_is_reserved(env: dict[str, str]) -> None:
    assert _paved(env, "domains", "grant", "payments", "billing")[0] == 0

    code, output = _paved(env, "domains", "grant", "platform", "billing")
    assert code == 1 and "billing" in output and "payments" in output
    code, output = _paved(env, "domains", "grant", "platform", "payments")
    assert code == 1 and "payments" in output
    code, output = _paved(env, "domains", "grant", "platform", "paved")
    assert code == 2 and "reserved" in output
    code, output = _paved(env, "domains", "list", "nobody")
    assert code == 1
