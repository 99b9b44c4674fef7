"""`paved domains grant TEAM DOMAIN` and `paved domains list TEAM`: the Kafka topic domains
a team may name topics with (`<domain>.<service>.<event>`), besides its own slug.

An administrator's command: it writes the registry directly, like `paved budget set`.
`paved` itself is reserved for Paved's own topics.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from paved.answers_cli import cli_registry

__all__ = ["domains_grant", "domains_list"]

_stderr = Console(stderr=True)


def domains_grant(
    team: Annotated[str, typer.Argument(help="The team's slug.")],
    domain: Annotated[str, typer.Argument(help="The topic domain it may use, e.g. billing.")],
) -> None:
    """Let TEAM name Kafka topics DOMAIN.*; idempotent."""
    from registry.domains import grant_topic_domain
    from registry.errors import Conflict

    try:
        with cli_registry() as session:
            grant_topic_domain(session, team=team, domain=domain)
    except Conflict as exc:
        _stderr.print(Text(f"✗ {exc}", style="red"), soft_wrap=True)
        raise typer.Exit(1) from exc
    Console().print(Text(f"✓ team {team} may name topics {domain}.*", style="green"))


def domains_list(
    team: Annotated[str, typer.Argument(help="The team's slug.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """The topic domains TEAM may use: its slug, then those granted to it."""
    from registry.domains import topic_domains

    with cli_registry() as session:
        domains = topic_domains(session, team=team)
    if as_json:
        typer.echo(json.dumps(domains))
        return
    Console().print("\n".join(domains))
