"""The `paved` command: the front door to the local stack and, later, to self-serve actions.

Exit codes: 0 success; 1 the stack (or a component of it) failed to start or stop, or
`status` found a component unhealthy; 2 the `PAVED_*` settings are invalid, or an
unknown component was named.
"""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from paved.answers_cli import dependents, deps, orphans, people_deactivate, resources, services
from paved.audit_cli import budget_set, findings
from paved.catalog_cli import actions, run
from paved.credentials import login, logout
from paved.domains_cli import domains_grant, domains_list
from paved.export_cli import export_backstage
from paved.journal_cli import journal_list, journal_log, journal_report
from paved.sandbox_cli import sandbox_token
from paved.settings import Settings
from paved.stack import (
    COMPONENTS,
    StackError,
    StackStatus,
    stack_status,
    start_stack,
    stop_stack,
)

__all__ = ["app"]

app = typer.Typer(
    name="paved",
    help="Paved: self-serve infrastructure on Prefect, and its local stack.",
    no_args_is_help=True,
)

_stderr = Console(stderr=True)

app.command("login")(login)
app.command("logout")(logout)
app.command("actions")(actions)
app.command("run")(run)

app.command("deps")(deps)
app.command("dependents")(dependents)
app.command("services")(services)
app.command("resources")(resources)
app.command("orphans")(orphans)
people_app = typer.Typer(help="People in the registry.", no_args_is_help=True)
people_app.command("deactivate")(people_deactivate)
app.add_typer(people_app, name="people")

journal_app = typer.Typer(
    help="The journal: what Paved did, and what is still done by hand.", no_args_is_help=True
)
journal_app.command("report")(journal_report)
journal_app.command("list")(journal_list)
journal_app.command("log")(journal_log)
app.add_typer(journal_app, name="journal")

app.command("findings")(findings)
budget_app = typer.Typer(help="Weekly budgets the cost audit checks.", no_args_is_help=True)
budget_app.command("set")(budget_set)
app.add_typer(budget_app, name="budget")

domains_app = typer.Typer(help="Kafka topic domains of teams.", no_args_is_help=True)
domains_app.command("grant")(domains_grant)
domains_app.command("list")(domains_list)
app.add_typer(domains_app, name="domains")

sandbox_app = typer.Typer(help="The local sandbox's stand-ins.", no_args_is_help=True)
sandbox_app.command("token")(sandbox_token)
app.add_typer(sandbox_app, name="sandbox")

export_app = typer.Typer(help="Export the registry to other tools.", no_args_is_help=True)
export_app.command("backstage")(export_backstage)
app.add_typer(export_app, name="export")


def _load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        _stderr.print(Text(f"Invalid PAVED_* settings:\n{exc}", style="red"))
        raise typer.Exit(2) from exc


def _fail(exc: StackError) -> typer.Exit:
    # Text, not markup: log tails are full of [brackets].
    _stderr.print(Text(f"✗ {exc}", style="red"))
    return typer.Exit(1)


def _status_table(status: StackStatus) -> Table:
    table = Table(title=f"Paved local stack ({status.home})", title_justify="left")
    table.add_column("component")
    table.add_column("healthy")
    table.add_column("url", overflow="fold")
    table.add_column("pid", justify="right")
    table.add_column("detail")
    for name, component in status.components.items():
        urls = "\n".join(url for url in (component.url, component.ui_url) if url)
        table.add_row(
            name,
            Text("✓ yes", style="green") if component.healthy else Text("✗ no", style="red"),
            Text(urls),
            "" if component.pid is None else str(component.pid),
            Text(component.detail or ""),
        )
    return table


def _after_stack_started(settings: Settings, console: Console) -> None:
    """Bootstrap the running stack and run the demo request through its deployment."""
    # Prefect reads its settings from the environment when first imported: point this
    # process at the stack's server before importing anything that imports Prefect.
    os.environ.update(settings.prefect_env())
    from paved.bootstrap import bootstrap

    try:
        with console.status("Seeding the registry, saving blocks, deploying, running the demo"):
            demo = bootstrap(settings)
    except Exception as exc:
        _stderr.print(Text(f"✗ bootstrapping the stack failed: {exc}", style="red"))
        _stderr.print(Text(f"  logs: {settings.logs_dir}"))
        raise typer.Exit(1) from exc
    if demo is None:
        return
    style = "green" if demo.state == "Completed" else "red"
    # soft_wrap: a URL cut in two by the terminal width cannot be clicked or copied.
    console.print(
        Text(f"Demo request github:repo:create {demo.name}: {demo.state}", style=style),
        soft_wrap=True,
    )
    console.print(Text(f"  Paved UI:    {demo.ui_url}"), soft_wrap=True)
    owner_command = f".venv/bin/paved who-owns {demo.repository}"
    console.print(Text(f"  Its owner:   {owner_command}"), soft_wrap=True)
    if demo.state != "Completed":
        _stderr.print(Text(f"  worker log:  {settings.logs_dir / 'worker.log'}"), soft_wrap=True)
        raise typer.Exit(1)


@app.command()
def up() -> None:
    """Start the local stack: fake GitHub, moto, Tansu, Prefect server and worker, registry.

    Components already running and healthy are left alone.
    """
    settings = _load_settings()
    console = Console()
    try:
        with console.status("Starting the local stack") as spinner:

            def progress(component: str, message: str) -> None:
                if message == "starting":
                    spinner.update(f"Starting {component}")
                else:
                    console.print(Text(f"✓ {component}: {message}"))

            status = start_stack(settings, progress=progress)
    except StackError as exc:
        raise _fail(exc) from exc
    console.print(_status_table(status))
    _after_stack_started(settings, console)


@app.command()
def down() -> None:
    """Stop the local stack's processes (state under PAVED_HOME is kept)."""
    settings = _load_settings()
    try:
        stopped = stop_stack(settings)
    except StackError as exc:
        raise _fail(exc) from exc
    console = Console()
    if stopped:
        console.print(f"Stopped {', '.join(stopped)}.")
    else:
        console.print("Nothing was running.")


_COMPONENT_HELP = f"One or more of: {', '.join(COMPONENTS)}."


def _components(names: list[str]) -> list[str]:
    unknown = sorted(set(names) - set(COMPONENTS))
    if unknown:
        raise typer.BadParameter(
            f"unknown component {', '.join(unknown)}; known: {', '.join(COMPONENTS)}",
            param_hint="COMPONENT",
        )
    return names


@app.command()
def start(
    components: Annotated[list[str], typer.Argument(metavar="COMPONENT...", help=_COMPONENT_HELP)],
) -> None:
    """Start these components of the local stack, e.g. after `paved stop kafka`.

    Components already running and healthy are left alone; those not named are not
    touched. The worker needs prefect. Tansu keeps topics in memory: a restarted kafka has none
    (`registry:events:publish` creates its topic again).
    """
    settings = _load_settings()
    names = _components(components)
    console = Console()

    def progress(component: str, message: str) -> None:
        if message != "starting":
            console.print(Text(f"✓ {component}: {message}"))

    try:
        status = start_stack(settings, components=names, progress=progress)
    except StackError as exc:
        raise _fail(exc) from exc
    unhealthy = [name for name in names if not status.components[name].healthy]
    if unhealthy:
        _stderr.print(Text(f"✗ not healthy: {', '.join(unhealthy)}", style="red"))
        raise typer.Exit(1)


@app.command()
def stop(
    components: Annotated[list[str], typer.Argument(metavar="COMPONENT...", help=_COMPONENT_HELP)],
) -> None:
    """Stop these components of the local stack, leaving the others running (e.g. kafka,
    to see what Paved does while the broker is down); `paved start` brings them back."""
    settings = _load_settings()
    names = _components(components)
    try:
        stopped = stop_stack(settings, components=names)
    except StackError as exc:
        raise _fail(exc) from exc
    console = Console()
    if stopped:
        console.print(f"Stopped {', '.join(stopped)}.")
    idle = [name for name in names if name not in stopped and name != "registry"]
    if idle:
        console.print(f"Not running: {', '.join(idle)}.")
    if "registry" in names:
        console.print("The registry is a database, not a process: nothing to stop.")


@app.command()
def status(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the status as JSON, and nothing else.")
    ] = False,
) -> None:
    """Show each component of the local stack; exit code 1 if any is unhealthy."""
    settings = _load_settings()
    current = stack_status(settings)
    if as_json:
        typer.echo(json.dumps(current.model_dump(), indent=2))
    else:
        Console().print(_status_table(current))
    if not current.healthy:
        raise typer.Exit(1)


@app.command("who-owns")
def who_owns(
    thing: Annotated[
        str,
        typer.Argument(
            help="A service name, resource name, ARN, org/repo, repository URL or Kafka topic."
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")] = False,
) -> None:
    """Who answers for THING: the service, its accountable owner, team and contacts."""
    from dataclasses import asdict

    from registry import queries
    from registry.db import make_engine, session_scope

    settings = _load_settings()
    engine = make_engine(settings.registry_url)
    try:
        with session_scope(engine) as session:
            answer = queries.ownership_of(session, thing=thing)
    finally:
        engine.dispose()
    if answer is None:
        _stderr.print(Text(f"✗ the registry knows no service or resource {thing!r}", style="red"))
        raise typer.Exit(1)
    if as_json:
        typer.echo(json.dumps(asdict(answer), default=str, indent=2))
        return
    table = Table(title=f"Who owns {thing}", title_justify="left", show_header=False)
    table.add_column("role")
    table.add_column("who")
    rows = {
        "service": answer.service,
        "accountable owner": answer.owner,
        "team": f"{answer.team} (lead {answer.team_lead or 'none'})",
        "change approver": answer.change_approver or "none",
        "on-call": answer.oncall or "none",
        "cost watcher": answer.cost_watcher or "none",
        "service status": str(answer.status),
        "matched by": answer.matched + (f" ({answer.resource})" if answer.resource else ""),
    }
    for role, who in rows.items():
        table.add_row(role, Text(who))
    Console().print(table)


# `paved notifications` lives in paved/notifications.py: the local stack's inbox.
from paved.notifications import notifications as _notifications  # noqa: E402

app.command("notifications")(_notifications)
