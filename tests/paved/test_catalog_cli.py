"""`paved actions` / `paved run` parameter handling, and the catalog against prefect.yaml."""

from __future__ import annotations

import ast
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from flows.catalog import ACTIONS, HOUSEKEEPING
from paved.catalog_cli import parse_params
from paved.cli import app

ROOT = Path(__file__).resolve().parents[2]


def test_params_parse_json_values_and_nest_dotted_keys() -> None:
    params = parse_params(
        ["name=orders", "desired_count=2", "private=false", "topics=[1,2]", "a.b=x", "note=a=b"]
    )
    assert params == {
        "name": "orders",
        "desired_count": 2,
        "private": False,
        "topics": [1, 2],
        "a": {"b": "x"},
        "note": "a=b",
    }


def test_a_param_without_equals_is_refused() -> None:
    with pytest.raises(typer.BadParameter, match="key=value"):
        parse_params(["name"])


def test_run_refuses_an_invalid_request_before_creating_anything(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["run", "github:repo:create", "--param", "name=Bad_Name", "--param", "team=platform"],
        env={"PAVED_HOME": str(tmp_path / "home")},
    )
    assert result.exit_code == 2
    assert "repository name 'Bad_Name' is not allowed" in result.output
    assert "owner: Field required" in result.output


def test_run_validates_with_the_actions_module_alone() -> None:
    # In a fresh process: the test session has imported every flow already.
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from paved.cli import app\n"
        "result = CliRunner().invoke(app, ['run', 'github:repo:create', '-p', 'name=Bad_Name'])\n"
        "assert result.exit_code == 2, result.output\n"
        "assert 'prefect' not in sys.modules, 'validating imported prefect'\n"
        "print(sorted(m for m in sys.modules if m.startswith(('flows.', 'prefect_aws'))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True
    )
    imported = set(ast.literal_eval(done.stdout.strip().splitlines()[-1]))
    # The request model's own module, not the action's: validating takes no flow (the
    # action module, and Prefect with it, is no longer imported at all; issue 10).
    assert "flows.request_models.github_repo_create" in imported
    assert not {name for name in imported if name.startswith(("flows.actions", "flows.audits"))}
    # blocks imports each block's module on first use: no AWS SDK plugin for a GitHub action.
    assert "prefect_aws" not in imported


def test_every_entry_names_its_flow() -> None:
    for entry in [*ACTIONS.values(), *HOUSEKEEPING.values()]:
        assert entry.flow.name == entry.flow_name, entry.id


def test_run_refuses_an_unknown_action(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["run", "github:repo:delete"], env={"PAVED_HOME": str(tmp_path / "home")}
    )
    assert result.exit_code == 2
    assert "github:repo:create" in result.output


def test_run_checks_housekeeping_parameters_against_the_flow(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["run", "registry:events:publish", "--param", "batch_size=many"],
        env={"PAVED_HOME": str(tmp_path / "home")},
    )
    assert result.exit_code == 2
    assert "invalid parameters for registry:events:publish" in result.output
    assert "batch_size" in result.output


def test_every_housekeeping_entry_has_its_deployment_in_prefect_yaml() -> None:
    deployments = {
        entry["name"]: entry["entrypoint"]
        for entry in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
    }
    for entry in HOUSEKEEPING.values():
        assert entry.id in deployments
        assert deployments[entry.id].endswith(f":{entry.flow.fn.__name__}")


def test_actions_lists_every_action_with_its_deployment() -> None:
    result = CliRunner().invoke(app, ["actions", "--json"])
    assert result.exit_code == 0
    listed = {row["action"]: row["deployment"] for row in json.loads(result.output)}
    assert listed == {entry.id: entry.deployment for entry in ACTIONS.values()}


def test_every_action_has_its_deployment_in_prefect_yaml() -> None:
    deployments = {
        entry["name"]: entry
        for entry in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
    }
    for entry in ACTIONS.values():
        assert entry.id in deployments, f"{entry.id} has no deployment in prefect.yaml"
        path, _, function = deployments[entry.id]["entrypoint"].partition(":")
        assert function == entry.flow.fn.__name__
        assert (ROOT / path).is_file()
        assert f"action:{entry.id}" in deployments[entry.id]["tags"]


@pytest.mark.parametrize("entry", ACTIONS.values(), ids=ACTIONS.keys())
def test_every_request_model_is_the_one_its_flow_takes(entry: object) -> None:
    # The catalog resolves the model from flows.request_models, the flow from its action
    # module: the flow's `request` annotation must be that very class, so they cannot drift.
    from flows.catalog import Action

    assert isinstance(entry, Action)
    assert entry.request_module.startswith("flows.request_models.")
    annotation = inspect.signature(entry.flow.fn, eval_str=True).parameters["request"].annotation
    assert annotation is entry.request_model


def test_request_modules_import_no_prefect() -> None:
    # In a fresh process (this one has imported every flow): what `paved run` and the
    # gateway import to validate a request loads no Prefect, provider SDK, tasks or blocks.
    modules = sorted({entry.request_module for entry in ACTIONS.values()})
    heavy = ("prefect", "github", "boto3", "botocore", "confluent_kafka", "tasks", "blocks")
    script = (
        f"import sys, {', '.join(modules)}\n"
        f"loaded = [name for name in {heavy!r} if name in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("entry", ACTIONS.values(), ids=ACTIONS.keys())
def test_every_request_model_is_strict_and_described(entry: object) -> None:
    from flows.catalog import Action

    assert isinstance(entry, Action)
    schema = entry.request_model.model_json_schema()
    assert schema.get("additionalProperties") is False
    for name, field in schema["properties"].items():
        assert field.get("description"), f"{entry.id}: field {name} has no description"
