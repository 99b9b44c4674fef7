"""`paved export backstage`: the registry as a Backstage catalog.

With `--out DIR`, writes one multi-document YAML file per kind (`groups.yaml`,
`users.yaml`, `components.yaml`, `resources.yaml`) and a `catalog-info.yaml` holding a
`Location` entity that lists them, so Backstage imports the whole catalog from that one
file. Without `--out`, prints every entity as YAML documents on stdout; `--json` prints
them as a JSON list instead (and still writes the files when `--out` is given).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from paved.settings import Settings

__all__ = ["KIND_FILES", "LOCATION_FILE", "export_backstage", "location_entity", "write_catalog"]

KIND_FILES = {
    "Group": "groups.yaml",
    "User": "users.yaml",
    "Component": "components.yaml",
    "Resource": "resources.yaml",
}
LOCATION_FILE = "catalog-info.yaml"


def location_entity(files: list[str]) -> dict[str, Any]:
    """The `Location` entity pointing Backstage at the per-kind files (relative paths)."""
    return {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Location",
        "metadata": {
            "name": "paved-registry",
            "description": "The Paved registry, exported by `paved export backstage`.",
        },
        "spec": {"type": "file", "targets": [f"./{name}" for name in files]},
    }


def _dump_all(entities: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(entities, sort_keys=False, allow_unicode=True)


def write_catalog(entities: list[dict[str, Any]], out: Path) -> dict[str, int]:
    """Write the entities into ``out``: one file per kind and `catalog-info.yaml`.

    Every kind's file is written, empty or not, so that a kind that disappeared from the
    registry does not linger from a previous export. Returns the entity count per file.
    """
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for kind, filename in KIND_FILES.items():
        of_kind = [entity for entity in entities if entity["kind"] == kind]
        (out / filename).write_text(_dump_all(of_kind), encoding="utf-8")
        counts[filename] = len(of_kind)
    location = location_entity(list(KIND_FILES.values()))
    (out / LOCATION_FILE).write_text(_dump_all([location]), encoding="utf-8")
    counts[LOCATION_FILE] = 1
    return counts


def export_backstage(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write groups/users/components/resources.yaml and catalog-info.yaml here.",
            file_okay=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the entities as a JSON list.")
    ] = False,
) -> None:
    """The registry as Backstage catalog entities (Group, User, Component, Resource)."""
    from registry.backstage import backstage_entities
    from registry.db import make_engine, session_scope

    try:
        settings = Settings()
    except ValidationError as exc:
        Console(stderr=True).print(Text(f"Invalid PAVED_* settings:\n{exc}", style="red"))
        raise typer.Exit(2) from exc
    engine = make_engine(settings.registry_url)
    try:
        with session_scope(engine) as session:
            entities = backstage_entities(session)
    finally:
        engine.dispose()
    counts = write_catalog(entities, out) if out is not None else None
    if as_json:
        typer.echo(json.dumps(entities, indent=2))
        return
    if out is None or counts is None:
        typer.echo(_dump_all(entities), nl=False)
        return
    table = Table(title=f"Backstage catalog written to {out}", title_justify="left")
    table.add_column("file")
    table.add_column("entities", justify="right")
    for filename, count in counts.items():
        table.add_row(filename, str(count))
    Console().print(table)
    Console().print(f"Register [bold]{out / LOCATION_FILE}[/bold] in Backstage to import them.")
