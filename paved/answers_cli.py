"""`paved deps`, `dependents`, `services`, `resources`, `orphans`, `people deactivate`.

The registry's answers from the terminal: a Rich table each, or with `--json` the same
answer as JSON and nothing else. Exit codes: 0 answered; 1 the registry knows no such
service, resource or person; 2 invalid settings or an invalid filter value.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from paved.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = [
    "JsonOption",
    "cli_registry",
    "dependents",
    "deps",
    "orphans",
    "people_deactivate",
    "print_json",
    "print_table",
    "resources",
    "services",
]

_stderr = Console(stderr=True)
T = TypeVar("T")

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the answer as JSON, and nothing else.")
]


@contextmanager
def cli_registry() -> Iterator[Session]:
    """A session on the registry of the current PAVED_* settings, committed at the end.

    Registry errors become a message and an exit code: NotFound 1, PolicyViolation 2.
    """
    # Imported here so that `paved --help` and the stack commands do not load SQLAlchemy.
    from registry.db import make_engine, session_scope
    from registry.errors import NotFound, PolicyViolation

    try:
        settings = Settings()
    except ValidationError as exc:
        _stderr.print(Text(f"Invalid PAVED_* settings:\n{exc}", style="red"))
        raise typer.Exit(2) from exc
    engine = make_engine(settings.registry_url)
    try:
        with session_scope(engine) as session:
            yield session
    except NotFound as exc:
        _stderr.print(Text(f"✗ {exc}", style="red"))
        raise typer.Exit(1) from exc
    except PolicyViolation as exc:
        _stderr.print(Text(f"✗ {exc}", style="red"))
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()


def print_json(answer: Any) -> None:
    typer.echo(json.dumps(answer, default=str, indent=2))


def print_table(
    title: str, columns: Sequence[str], rows: Iterable[T], cells: Callable[[T], Sequence[Any]]
) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        # Text, not markup: names and URLs may hold [brackets].
        table.add_row(*(Text("" if cell is None else str(cell)) for cell in cells(row)))
    Console().print(table)


def deps(
    service: Annotated[str, typer.Argument(help="A service name.")],
    transitive: Annotated[
        bool,
        typer.Option("--transitive", help="Also what its dependencies depend on, and so on."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """What SERVICE depends on: services and resources, with --transitive the whole closure."""
    from registry.graph import deps as find_deps

    with cli_registry() as session:
        rows = find_deps(session, service=service, transitive=transitive)
    if as_json:
        print_json([asdict(row) for row in rows])
        return
    print_table(
        f"{service} depends on" + (" (transitively)" if transitive else ""),
        ("depth", "service", "depends on", "type", "kind"),
        rows,
        lambda row: (
            row.depth,
            row.service,
            row.target,
            row.target_type
            if row.target_type == "service"
            else f"{row.provider}/{row.resource_kind}",
            row.kind,
        ),
    )


def dependents(
    thing: Annotated[
        str,
        typer.Argument(help="A service name, or a resource's name, ARN, org/repo, topic or URL."),
    ],
    as_json: JsonOption = False,
) -> None:
    """Who depends on THING, directly (depth 1) and through other services."""
    from registry.graph import dependents as find_dependents

    with cli_registry() as session:
        rows = find_dependents(session, thing=thing)
    if as_json:
        print_json([asdict(row) for row in rows])
        return
    print_table(
        f"Who depends on {thing}",
        ("depth", "service", "depends on", "kind"),
        rows,
        lambda row: (row.depth, row.service, row.target, row.kind),
    )


def services(
    team: Annotated[str | None, typer.Option(help="Only this team's services.")] = None,
    owner: Annotated[str | None, typer.Option(help="Only services this person owns.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List services with their team, accountable owner and contacts."""
    from registry.answers import list_services

    with cli_registry() as session:
        rows = list_services(session, team=team, owner=owner)
    if as_json:
        print_json([asdict(row) for row in rows])
        return
    print_table(
        "Services",
        ("service", "team", "owner", "change approver", "on-call", "cost watcher", "status"),
        rows,
        lambda row: (
            row.name,
            row.team,
            row.owner if row.owner_active else f"{row.owner} (inactive)",
            row.change_approver,
            row.oncall,
            row.cost_watcher,
            row.status,
        ),
    )


def resources(
    service: Annotated[str | None, typer.Option(help="Only this service's resources.")] = None,
    team: Annotated[str | None, typer.Option(help="Only resources of this team.")] = None,
    owner: Annotated[
        str | None, typer.Option(help="Only resources of services this person owns.")
    ] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind, e.g. s3_bucket.")] = None,
    status: Annotated[str | None, typer.Option(help="Only this status, e.g. active.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List resources with their service, team and owner."""
    from registry.answers import list_resources

    with cli_registry() as session:
        rows = list_resources(
            session, service=service, team=team, owner=owner, kind=kind, status=status
        )
    if as_json:
        print_json([asdict(row) for row in rows])
        return
    print_table(
        "Resources",
        ("provider", "kind", "name", "external id", "status", "service", "owner"),
        rows,
        lambda row: (
            row.provider,
            row.kind,
            row.name,
            row.external_id,
            row.status,
            row.service or "none (orphan)",
            row.owner,
        ),
    )


def orphans(as_json: JsonOption = False) -> None:
    """Services and resources without an active accountable owner, and why."""
    from registry.answers import orphans as find_orphans

    with cli_registry() as session:
        rows = find_orphans(session)
    if as_json:
        print_json([asdict(row) for row in rows])
        return
    print_table(
        "Orphans: no active accountable owner",
        ("what", "name", "reason", "team", "owner", "resources"),
        rows,
        lambda row: (
            row.subject
            if row.subject == "service"
            else f"resource {row.provider}/{row.resource_kind}",
            row.name,
            row.reason,
            row.team,
            row.owner,
            row.resources if row.subject == "service" else "",
        ),
    )


def people_deactivate(
    handle: Annotated[str, typer.Argument(help="The GitHub login of the person leaving.")],
    requester: Annotated[
        str | None,
        typer.Option(help="Who is doing this, for the journal; default: your login name."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Mark HANDLE as gone and list what they own, approve, watch or lead.

    Ownership does not move here: each role is listed with the team lead suggested, to be
    handed over with `service:transfer`.
    """
    from registry.answers import deactivate_person

    with cli_registry() as session:
        report = deactivate_person(session, handle=handle, requester=requester or getpass.getuser())
    if as_json:
        print_json(asdict(report))
        return
    console = Console()
    when = f"{report.deactivated_at:%Y-%m-%d %H:%M} UTC"
    state = "deactivated" if report.was_active else "was already inactive"
    console.print(Text(f"{report.handle} {state} ({when}); journal run {report.flow_run_id}"))
    if not report.needs_new_person:
        console.print("Nothing they held needs a new person.")
        return
    print_table(
        f"Needs a new person (was {report.handle})",
        ("role", "of", "team", "suggested"),
        report.needs_new_person,
        lambda need: (need.role, need.subject, need.team, need.suggested or "none"),
    )
    console.print(Text("Hand services over with: paved run service:transfer"))
