"""`paved up`, `down`, `start`, `stop`, `status`: the local stack's processes.

Exit codes: 0 success; 1 the stack (or a component of it) failed to start or stop, or
`status` found a component unhealthy; 2 the `PAVED_*` settings are invalid, or an
unknown component was named. Registered by paved/cli.py, imported only when one of these
commands runs.
"""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from paved.cli import load_settings
from paved.settings import Database, Settings, remembered_database
from paved.stack import (
    COMPONENTS,
    StackError,
    StackStatus,
    stack_status,
    start_stack,
    stop_stack,
)

__all__ = ["down", "start", "status", "stop", "up"]

_stderr = Console(stderr=True)


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


_DATABASE_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


def _settings_in_mode(database: Database | None, scale: bool | None = None) -> Settings:
    """The `PAVED_*` settings, in `database` mode and topology when flags name them; exits 2
    when they are invalid."""
    if database is None and scale is None:
        return load_settings()
    from pydantic import ValidationError

    given: dict[str, object] = {}
    if database is not None:
        given["database"] = database
    if scale is not None:
        given["scale"] = scale
    try:
        return Settings(**given)  # type: ignore[arg-type]
    except ValidationError as exc:
        _stderr.print(Text(f"Invalid PAVED_* settings:\n{exc}", style="red"))
        raise typer.Exit(2) from exc


def _database_line(settings: Settings, *, flag: bool) -> Text:
    """Which database the stack runs on, and why: a flag, PAVED_DATABASE, or the mode the
    stack was last started in."""
    name = _DATABASE_NAMES[settings.database]
    other = "sqlite" if settings.database == "postgres" else "postgres"
    if flag:
        given = "--scale" if settings.scale else f"--{settings.database}"
        why = f"{given}, remembered for the next commands"
    elif any(variable.upper() == "PAVED_DATABASE" for variable in os.environ):
        why = "PAVED_DATABASE"
    elif remembered_database(settings.home) is not None:
        why = f"as the stack was last started; `paved up --{other}` switches"
    else:
        why = f"the default; `paved up --{other}` switches"
    return Text(f"Database: {name} ({why})")


def _mode(postgres: bool, sqlite: bool) -> Database | None:
    if postgres and sqlite:
        raise typer.BadParameter("--postgres and --sqlite exclude each other")
    if postgres:
        return "postgres"
    return "sqlite" if sqlite else None


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


def up(
    postgres: Annotated[
        bool,
        typer.Option(
            "--postgres",
            help="Run Prefect and the registry on a local PostgreSQL cluster (in PAVED_HOME); "
            "remembered until --sqlite.",
        ),
    ] = False,
    sqlite: Annotated[
        bool,
        typer.Option(
            "--sqlite",
            help="Run them on SQLite files again (the default). The modes keep separate data.",
        ),
    ] = False,
    scale: Annotated[
        bool,
        typer.Option(
            "--scale",
            help="The topology a company runs: PostgreSQL, Redis, two Prefect API servers "
            "behind a balancer, Prefect's services apart, three workers (docs/local-stack.md); "
            "remembered until --single.",
        ),
    ] = False,
    single: Annotated[
        bool,
        typer.Option("--single", help="One Prefect server and one worker again (the default)."),
    ] = False,
) -> None:
    """Start the local stack: fake GitHub, moto, Tansu, Prefect server and worker, registry.

    Components already running and healthy are left alone. The database mode is the one
    the stack was last started in unless a flag (or PAVED_DATABASE) names one.
    """
    mode = _mode(postgres, sqlite)
    if scale and single:
        raise typer.BadParameter("--scale and --single exclude each other")
    if scale and sqlite:
        raise typer.BadParameter("--scale runs on PostgreSQL: drop --sqlite")
    topology = True if scale else (False if single else None)
    if mode == "sqlite" and topology is None:
        topology = False  # back on SQLite: one server and one worker
    settings = _settings_in_mode(mode, topology)
    console = Console()
    console.print(_database_line(settings, flag=mode is not None or scale))
    if settings.scale:
        console.print(Text("Topology: scaled out (`paved up --single` returns to one of each)"))
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


# The stand-ins and what runs requests: stopped for the reset, so nothing writes meanwhile.
_RESET_STOPS = ("worker", "github", "aws", "kafka")


def reset(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask first.")] = False,
) -> None:
    """Return the sandbox to its seed: fake GitHub, moto and Tansu emptied, the registry
    (journal included) made anew from the seed, then the stack started as `paved up` does.

    Prefect's run history is kept. Asks first: everything made in the sandbox is lost.
    """
    settings = load_settings()
    console = Console()
    if not yes and not typer.confirm(
        f"Reset the sandbox in {settings.home}? Every repository, AWS resource, topic and "
        "registry row made in it (the journal too) is lost",
        default=False,
    ):
        _stderr.print("Nothing was reset.")
        raise typer.Exit(1)
    try:
        stopped = stop_stack(settings, components=_RESET_STOPS)
        from registry.db import wipe

        if _registry_exists(settings):
            wipe(settings.registry_url)
        console.print(
            Text(
                f"✓ stopped {', '.join(stopped) or 'nothing (it was not running)'}; "
                "the registry is wiped"
            )
        )
        status = start_stack(
            settings, progress=lambda name, message: _progress_line(console, name, message)
        )
    except StackError as exc:
        raise _fail(exc) from exc
    console.print(_status_table(status))
    _after_stack_started(settings, console)


def _registry_exists(settings: Settings) -> bool:
    from registry.db import current_revision

    try:
        return current_revision(settings.registry_url) is not None
    except Exception:  # a database server that is down: nothing to wipe there yet
        return False


def _progress_line(console: Console, component: str, message: str) -> None:
    if message != "starting":
        console.print(Text(f"✓ {component}: {message}"))


def down() -> None:
    """Stop the local stack's processes (state under PAVED_HOME is kept)."""
    settings = load_settings()
    try:
        stopped = stop_stack(settings)
    except StackError as exc:
        raise _fail(exc) from exc
    console = Console()
    console.print(_database_line(settings, flag=False))
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


def start(
    components: Annotated[list[str], typer.Argument(metavar="COMPONENT...", help=_COMPONENT_HELP)],
) -> None:
    """Start these components of the local stack, e.g. after `paved stop kafka`.

    Components already running and healthy are left alone; those not named are not
    touched. The worker needs prefect. Tansu keeps topics in memory: a restarted kafka has none
    (`registry:events:publish` creates its topic again).
    """
    settings = load_settings()
    names = _components(components)
    console = Console()

    def progress(component: str, message: str) -> None:
        if message != "starting":
            console.print(Text(f"✓ {component}: {message}"))

    try:
        status = start_stack(settings, components=names, progress=progress)
    except StackError as exc:
        raise _fail(exc) from exc
    except ValueError as exc:  # postgres named in the sqlite mode
        raise typer.BadParameter(str(exc), param_hint="COMPONENT") from exc
    unhealthy = [name for name in names if not status.components[name].healthy]
    if unhealthy:
        _stderr.print(Text(f"✗ not healthy: {', '.join(unhealthy)}", style="red"))
        raise typer.Exit(1)


def stop(
    components: Annotated[list[str], typer.Argument(metavar="COMPONENT...", help=_COMPONENT_HELP)],
) -> None:
    """Stop these components of the local stack, leaving the others running (e.g. kafka,
    to see what Paved does while the broker is down); `paved start` brings them back."""
    settings = load_settings()
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


def status(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the status as JSON, and nothing else.")
    ] = False,
) -> None:
    """Show each component of the local stack; exit code 1 if any is unhealthy."""
    settings = load_settings()
    current = stack_status(settings)
    if as_json:
        typer.echo(json.dumps(current.model_dump(), indent=2))
    else:
        console = Console()
        console.print(_status_table(current))
        console.print(_database_line(settings, flag=False))
    if not current.healthy:
        raise typer.Exit(1)
