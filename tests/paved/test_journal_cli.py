"""`paved journal log` and `paved journal report` against a SQLite registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from flows.journal.charts import CHART_SIZE_PX
from paved import journal_cli

# Registered as paved/cli.py registers them.
app = typer.Typer()
journal = typer.Typer()
journal.command("report")(journal_cli.journal_report)
journal.command("log")(journal_cli.journal_log)
journal.command("list")(journal_cli.journal_list)
app.add_typer(journal, name="journal")


@pytest.fixture
def env(seeded_registry_env: dict[str, str]) -> dict[str, str]:
    return {**seeded_registry_env}


def _run(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.output


def _log(env: dict[str, str], category: str, minutes: int, *extra: str) -> tuple[int, str]:
    return _run(
        env,
        "journal",
        "log",
        "Rotated the credentials of a team by hand",
        "--category",
        category,
        "--team",
        "platform",
        "--minutes",
        str(minutes),
        "--requester",
        "bob",
        *extra,
    )


def test_logged_tasks_show_in_the_report(env: dict[str, str]) -> None:
    for category, minutes in [("credentials", 20), ("credentials", 25), ("dns", 60)]:
        code, output = _log(env, category, minutes)
        assert code == 0, output
        assert "journaled" in output
    code, output = _run(env, "journal", "report", "--since", "7d", "--json")
    assert code == 0, output
    report = json.loads(output)
    assert report["manual_tasks"] == 3 and report["manual_minutes"] == 105
    assert [(c["category"], c["score"]) for c in report["automation_candidates"]] == [
        ("dns", 60.0),
        ("credentials", 45.0),
    ]
    code, output = _run(env, "journal", "report")
    assert code == 0, output
    assert "Automation candidates" in output and "credentials" in output


def test_log_prints_the_row_as_json(env: dict[str, str]) -> None:
    code, output = _log(env, "dns", 15, "--json")
    assert code == 0, output
    row = json.loads(output)
    assert isinstance(row["journal_id"], int) and row["flow_run_id"]


def test_invalid_tasks_are_refused(env: dict[str, str]) -> None:
    code, output = _log(env, "dns", 0)
    assert code == 2 and "minutes_spent" in output
    code, output = _log(env, "dns", 10, "--service", "nope")
    assert code == 1 and "nope" in output
    code, output = _run(env, "journal", "report", "--json")
    assert json.loads(output)["runs"] == 0


def test_since_must_be_a_duration(env: dict[str, str]) -> None:
    assert journal_cli.parse_since("2w").days == 14
    code, output = _run(env, "journal", "report", "--since", "soon")
    assert code == 2 and "30d" in output


def test_chart_is_written_next_to_the_report(env: dict[str, str], tmp_path: Path) -> None:
    code, output = _log(env, "dns", 30)
    assert code == 0, output
    chart = tmp_path / "journal.png"

    code, output = _run(env, "journal", "report", "--json", "--chart", str(chart))

    assert code == 0, output
    assert json.loads(output)["runs"] == 1  # stdout is still the JSON and nothing else
    with Image.open(chart) as image:
        assert (image.format, image.size) == ("PNG", CHART_SIZE_PX)
    again = tmp_path / "again.png"
    code, output = _run(env, "journal", "report", "--chart", str(again))
    assert code == 0, output
    assert str(again) in output.replace("\n", "")
    assert again.read_bytes() == chart.read_bytes()


def test_an_unwritable_chart_file_fails_clearly(env: dict[str, str], tmp_path: Path) -> None:
    code, output = _run(env, "journal", "report", "--chart", str(tmp_path / "no" / "c.png"))
    assert code == 1 and "cannot write the chart" in output


def test_list_shows_runs_newest_first_filtered(env: dict[str, str]) -> None:
    assert _log(env, "dns", 20)[0] == 0
    code, output = _run(
        env, "journal", "log", "Moved the hello DNS record by hand", "--category", "dns",
        "--team", "platform", "--minutes", "5", "--requester", "alice",
    )  # fmt: skip
    assert code == 0, output

    code, output = _run(env, "journal", "list", "--json")
    assert code == 0, output
    runs = json.loads(output)
    assert [(r["action"], r["requester"], r["state"]) for r in runs] == [
        ("ops:manual-task:record", "alice", "Completed"),
        ("ops:manual-task:record", "bob", "Completed"),
    ]
    assert all(r["manual"] and r["approved_by"] is None for r in runs)

    code, output = _run(env, "journal", "list", "--requester", "bob", "--json")
    assert [r["requester"] for r in json.loads(output)] == ["bob"]
    code, output = _run(env, "journal", "list", "--service", "nowhere", "--json")
    assert json.loads(output) == []
    code, output = _run(env, "journal", "list", "--since", "1d")
    # A table (its width is the terminal's: look for what fits any width).
    assert code == 0 and output.startswith("Journal") and "alice" in output
