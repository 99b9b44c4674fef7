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
    # Prefect puts a deployment's entrypoint directory on sys.path (flows/actions/,
    # flows/audits/, flows/journal/), so a flow module named requests.py would hide the
    # `requests` library from every flow run. Every directory of flows is checked.
    flows_dirs = {ROOT / "flows", *(path.parent for path in (ROOT / "flows").rglob("*.py"))}
    clashes = []
    for flows_dir in sorted(flows_dirs):
        outside = [p for p in sys.path if Path(p or ".").resolve() not in flows_dirs]
        for path in flows_dir.glob("*.py"):
            name = path.stem
            if name == "__init__":
                continue
            saved = sys.path[:]
            try:
                sys.path[:] = outside
                if name in sys.modules or importlib.util.find_spec(name) is not None:
                    clashes.append(str(path.relative_to(ROOT)))
            finally:
                sys.path[:] = saved
    assert clashes == []


# The floors inside flows (docs/architecture.md): which flows packages each may import.
# Actions, audits and the journal build on the engine; audits draw with the journal's
# charts; the engine builds on nothing above it; the request models (flows.request_models)
# build on the engine's request base alone and the actions and audits take them; nothing
# in flows imports the catalog (it names the flows by module, imported on use).
FLOWS_FLOORS = {
    "flows.engine": {"flows.engine"},
    "flows.request_models": {"flows.engine", "flows.request_models"},
    "flows.journal": {"flows.engine", "flows.journal"},
    "flows.audits": {"flows.engine", "flows.journal", "flows.audits", "flows.request_models"},
    "flows.actions": {"flows.engine", "flows.actions", "flows.request_models"},
    "flows.catalog": {"flows.engine"},
}


def flows_modules() -> dict[str, Path]:
    """Every module of flows by dotted name (a package by its __init__)."""
    modules = {}
    for path in (ROOT / "flows").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def flows_imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The flows modules `name` imports anywhere in its source: at the top, inside a
    function, under TYPE_CHECKING. `from package import module` counts as the module."""
    package = name if path.stem == "__init__" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import flows.x.y` names a module
                target = target.rpartition(".")[0]
            if target.startswith("flows") and target != name:
                found.add(target)
    return found


def flows_import_graph() -> dict[str, set[str]]:
    modules = flows_modules()
    known = set(modules)
    return {name: flows_imports(name, path, known) for name, path in modules.items()}


def floor_of(module: str) -> str | None:
    return next((floor for floor in FLOWS_FLOORS if f"{module}.".startswith(f"{floor}.")), None)


def test_every_flows_module_sits_on_a_floor() -> None:
    homeless = [name for name in flows_modules() if name != "flows" and floor_of(name) is None]
    assert homeless == []


def test_flows_floors_import_only_the_floors_below() -> None:
    offenders = {}
    for name, imported in flows_import_graph().items():
        floor = floor_of(name)
        if floor is None:
            continue
        # A package's __init__ (flows, flows.engine...) is a stop on the way, not a floor.
        bad = {
            target
            for target in imported
            if floor_of(target) is not None and floor_of(target) not in FLOWS_FLOORS[floor]
        }
        if bad:
            offenders[name] = sorted(bad)
    assert offenders == {}


def test_flows_modules_import_each_other_without_a_cycle() -> None:
    graph = flows_import_graph()
    # Depth-first search, colouring what is on the current path: meeting a module on the
    # path again closes a cycle, reported as the modules around it.
    on_path: list[str] = []
    done: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        if module in done:
            return
        if module in on_path:
            cycles.append([*on_path[on_path.index(module) :], module])
            return
        on_path.append(module)
        for target in sorted(graph.get(module, ())):
            visit(target)
        on_path.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)
    assert cycles == []


def test_the_import_graph_sees_a_function_level_import(tmp_path: Path) -> None:
    # The cycle check is only as good as the graph: an import inside a function (how the
    # runtime once dodged its cycle with notify_failure) is an edge like any other.
    module = tmp_path / "late.py"
    module.write_text(
        "def notify() -> None:\n"
        "    from flows.engine.runtime import journaled\n"
        "    from flows.engine import session\n"
    )
    known = {"flows.engine", "flows.engine.runtime", "flows.engine.session", "flows.x.late"}
    assert flows_imports("flows.x.late", module, known) == {
        "flows.engine.runtime",
        "flows.engine.session",
    }
