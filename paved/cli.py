"""The `paved` command: the front door to the local stack and to self-serve actions.

Each command's module is imported only when that command runs (or when `paved --help`
lists them all): `paved who-owns` should not pay for SQLAlchemy's ORM of the journal, nor
`paved run` for the stack's process supervision (issue 10/12: the CLI starts in well
under a second).

Exit codes: 0 success; 1 a command failed (the stack did not start, a run was refused,
`status` found a component unhealthy...); 2 the `PAVED_*` settings are invalid, or a
request or component was not understood.
"""

from __future__ import annotations

import json
from importlib import import_module
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup
from typer.main import get_command_from_info, get_group
from typer.models import CommandInfo

if TYPE_CHECKING:
    from rich.console import Console

    from paved.settings import Settings

__all__ = ["app", "load_settings"]

# Where each command lives, as (module, function), in the order `paved --help` lists them.
_COMMANDS: dict[str, tuple[str, str]] = {
    "login": ("paved.credentials", "login"),
    "logout": ("paved.credentials", "logout"),
    "actions": ("paved.catalog_cli", "actions"),
    "run": ("paved.catalog_cli", "run"),
    "deps": ("paved.answers_cli", "deps"),
    "dependents": ("paved.answers_cli", "dependents"),
    "services": ("paved.answers_cli", "services"),
    "resources": ("paved.answers_cli", "resources"),
    "orphans": ("paved.answers_cli", "orphans"),
    "findings": ("paved.audit_cli", "findings"),
    "up": ("paved.stack_cli", "up"),
    "down": ("paved.stack_cli", "down"),
    "reset": ("paved.stack_cli", "reset"),
    "start": ("paved.stack_cli", "start"),
    "stop": ("paved.stack_cli", "stop"),
    "status": ("paved.stack_cli", "status"),
    "who-owns": ("paved.cli", "who_owns"),
    # The local stack's inbox.
    "notifications": ("paved.notifications", "notifications"),
}
# Command groups: their help, and their commands as above.
_GROUPS: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {
    "people": (
        "People in the registry.",
        {"deactivate": ("paved.answers_cli", "people_deactivate")},
    ),
    "journal": (
        "The journal: what Paved did, and what is still done by hand.",
        {
            "report": ("paved.journal_cli", "journal_report"),
            "list": ("paved.journal_cli", "journal_list"),
            "log": ("paved.journal_cli", "journal_log"),
        },
    ),
    "budget": (
        "Weekly budgets the cost audit checks.",
        {"set": ("paved.audit_cli", "budget_set")},
    ),
    "domains": (
        "Kafka topic domains of teams.",
        {
            "grant": ("paved.domains_cli", "domains_grant"),
            "list": ("paved.domains_cli", "domains_list"),
        },
    ),
    "sandbox": (
        "The local sandbox's stand-ins.",
        {"token": ("paved.sandbox_cli", "sandbox_token")},
    ),
    "export": (
        "Export the registry to other tools.",
        {"backstage": ("paved.export_cli", "export_backstage")},
    ),
}


def _function(where: tuple[str, str]) -> Any:
    module, name = where
    return getattr(import_module(module), name)


class _LazyGroup(TyperGroup):
    """The top-level group: builds a command from its module when it is first asked for."""

    def list_commands(self, ctx: Any) -> list[str]:
        return [*_COMMANDS, *_GROUPS]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands:
            loaded = _load(cmd_name)
            if loaded is None:
                return None
            self.commands[cmd_name] = loaded
        return self.commands[cmd_name]


def _load(name: str) -> Any:
    if name in _COMMANDS:
        return get_command_from_info(
            CommandInfo(name=name, callback=_function(_COMMANDS[name])),
            pretty_exceptions_short=app.pretty_exceptions_short,
            rich_markup_mode=app.rich_markup_mode,
        )
    if name in _GROUPS:
        help_text, commands = _GROUPS[name]
        group = typer.Typer(name=name, help=help_text, no_args_is_help=True)
        for command, where in commands.items():
            group.command(command)(_function(where))
        return get_group(group)
    return None


app = typer.Typer(
    name="paved",
    help="Paved: self-serve infrastructure on Prefect, and its local stack.",
    no_args_is_help=True,
    cls=_LazyGroup,
)


@app.callback()
def _main() -> None:
    # A callback makes `app` a group even though no command is registered on it here.
    pass


def _stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True)


def _error(message: str) -> None:
    """`message` in red on stderr, wrapped softly (rich is imported only then)."""
    from rich.text import Text

    _stderr().print(Text(message, style="red"), soft_wrap=True)


def load_settings() -> Settings:
    """The `PAVED_*` settings; exits 2, saying what is wrong, when they are invalid."""
    from pydantic import ValidationError
    from rich.text import Text

    from paved.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        _stderr().print(Text(f"Invalid PAVED_* settings:\n{exc}", style="red"))
        raise typer.Exit(2) from exc


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

    from sqlalchemy.exc import OperationalError

    # registry.ownership, not registry.queries: the answer needs none of the other
    # modules queries gathers (journal, claims, links...), each a cost at start.
    from registry.db import make_engine, session_scope
    from registry.ownership import ownership_of

    settings = load_settings()
    engine = make_engine(settings.registry_url)
    try:
        with session_scope(engine) as session:
            answer = ownership_of(session, thing=thing)
    except OperationalError as exc:
        # A registry never migrated (no stack started here yet) or one that is down: say
        # which, not a page of SQLAlchemy traceback.
        _error(
            f"✗ the registry at {_masked(settings.registry_url)} cannot answer: "
            f"{str(exc.orig).splitlines()[0]}. Start the stack (`make up`) or set "
            "PAVED_HOME / PAVED_REGISTRY_URL to the registry you mean"
        )
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    if answer is None:
        _error(f"✗ the registry knows no service or resource {thing!r}")
        raise typer.Exit(1)
    if as_json:
        typer.echo(json.dumps(asdict(answer), default=str, indent=2))
        return
    # rich only to draw the table: `--json` (scripts, the bench) does not pay for it.
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

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
    if answer.resource_status is not None:
        rows["resource status"] = str(answer.resource_status) + (
            f": {answer.resource_error}" if answer.resource_error else ""
        )
    for role, who in rows.items():
        table.add_row(role, Text(who))
    Console().print(table)
    hint = _STATUS_HINTS.get(str(answer.status))
    if hint:
        Console(stderr=True).print(Text(f"{answer.service} is {answer.status}: {hint}"))


# What a person reading who-owns should make of a service that is not simply active.
_STATUS_HINTS = {
    "provisioning": "a run is making it; not every part of it exists yet",
    "failed": "its last run fell short, so some parts were never made; re-run the request "
    "(it converges) or see `paved journal list --service` for the error",
    "retired": "it was decommissioned",
}


def _masked(url: str) -> str:
    """A database URL as it may be shown: without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
