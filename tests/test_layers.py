"""The floors of DESIGN.md, checked on the source: paved -> flows -> tasks -> blocks;
flows -> registry; no provider SDK outside tasks/ and blocks/; nothing imports paved/."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SDKS = {"boto3", "botocore", "github", "confluent_kafka"}
# What each layer must not import (top-level package names).
FORBIDDEN = {
    "flows": SDKS | {"paved", "sandbox"},
    "registry": SDKS | {"paved", "flows", "tasks", "blocks", "sandbox", "prefect"},
    "tasks": {"paved", "flows", "registry", "sandbox"},
    "blocks": {"paved", "flows", "tasks", "registry", "sandbox"},
    "sandbox": {"paved", "flows", "tasks", "blocks"},
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_what_its_floor_allows(layer: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & FORBIDDEN[layer])
        for path in (ROOT / layer).rglob("*.py")
        if "migrations" not in path.parts
    }
    assert {path: bad for path, bad in offenders.items() if bad} == {}


def test_flow_modules_do_not_shadow_installed_packages() -> None:
    # Prefect puts a deployment's entrypoint directory on sys.path, so flows/requests.py
    # would hide the `requests` library from every flow run.
    flows_dir = ROOT / "flows"
    outside = [p for p in sys.path if Path(p or ".").resolve() != flows_dir]
    clashes = []
    for path in flows_dir.glob("*.py"):
        name = path.stem
        if name == "__init__":
            continue
        saved = sys.path[:]
        try:
            sys.path[:] = outside
            if name in sys.modules or importlib.util.find_spec(name) is not None:
                clashes.append(name)
        finally:
            sys.path[:] = saved
    assert clashes == []
