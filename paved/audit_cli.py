"""`paved findings` and `paved budget set`: the audits' side of the registry.

`findings` lists drift findings (`--open`, `--class`, `--owner`, `--service`) with class,
resource, service, owner, first and last seen; `--json` prints a list of objects. `budget
set` keeps the weekly budgets the cost audit compares spend with. Exit codes as for the
other answers: 0 answered, 2 an invalid filter or amount.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from paved.answers_cli import JsonOption, cli_registry, print_json, print_table

__all__ = ["budget_set", "findings"]

_stderr = Console(stderr=True)


def findings(
    open_only: Annotated[bool, typer.Option("--open", help="Only findings still open.")] = False,
    drift_class: Annotated[
        str | None,
        typer.Option(
            "--class", help="unmanaged, missing, changed, mistagged or ownerless.", metavar="CLASS"
        ),
    ] = None,
    owner: Annotated[
        str | None, typer.Option("--owner", help="Findings told to this handle.")
    ] = None,
    service: Annotated[str | None, typer.Option("--service", help="One service's.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Drift findings of the audit:drift runs, oldest first (`--json` adds what differs)."""
    from registry.findings import list_findings

    with cli_registry() as session:
        rows: list[dict[str, Any]] = [
            {
                "id": row.id,
                "class": row.drift_class.value,
                "provider": row.provider,
                "kind": row.kind,
                "resource": row.identifier,
                "service": row.service,
                "team": row.team,
                "owner": row.owner,
                "summary": row.summary,
                "first_seen": row.first_seen.isoformat(),
                "last_seen": row.last_seen.isoformat(),
                "resolved_at": row.resolved_at.isoformat() if row.resolved_at else None,
                "resolution": row.resolution,
            }
            for row in list_findings(
                session,
                open_only=open_only,
                drift_class=drift_class,
                owner=owner,
                service=service,
            )
        ]
    if as_json:
        print_json(rows)
        return
    print_table(
        f"Drift findings ({len(rows)})",
        ("class", "resource", "service", "owner", "first seen", "last seen", "state"),
        rows,
        lambda r: (
            r["class"],
            r["resource"],
            r["service"] or "-",
            r["owner"] or "-",
            r["first_seen"][:10],
            r["last_seen"][:10],
            r["resolution"] or "open",
        ),
    )


def budget_set(
    amount: Annotated[
        str, typer.Argument(help="Weekly budget in USD, e.g. 250 or 99.50; `none` clears it.")
    ],
    service: Annotated[str | None, typer.Option(help="The service's budget.")] = None,
    team: Annotated[str | None, typer.Option(help="The team's budget.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the budget set as JSON.")] = False,
) -> None:
    """Set the weekly budget of one service or one team (audit:cost compares with it)."""
    weekly: Decimal | None
    if amount.lower() == "none":
        weekly = None
    else:
        try:
            weekly = Decimal(amount)
        except InvalidOperation as exc:
            _stderr.print(Text(f"✗ {amount!r} is not an amount in USD", style="red"))
            raise typer.Exit(2) from exc
    from registry.costs import set_budget

    with cli_registry() as session:
        set_budget(session, weekly_usd=weekly, service=service, team=team)
    if as_json:
        budget = None if weekly is None else str(weekly)
        print_json({"service": service, "team": team, "weekly_usd": budget})
        return
    target = f"service {service}" if service else f"team {team}"
    shown = "cleared" if weekly is None else f"{weekly} USD a week"
    Console().print(Text(f"✓ budget of {target}: {shown}", style="green"))
