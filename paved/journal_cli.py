"""`paved journal report`, `list` and `log`: the journal from the terminal.

`list` shows runs newest first: who asked for what (the requester the gateway
authenticated), when, how it ended, who approved it and who was refused.

`report` prints what `journal:report` publishes in the Prefect UI (the same
`registry.reports.build_report`, and with `--chart` the same PNG chart); `log` journals a
task done by hand, as the `ops:manual-task:record` action does, straight into the registry.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from paved.answers_cli import JsonOption
from paved.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = ["journal_list", "journal_log", "journal_report", "parse_since"]

_stdout = Console()
_stderr = Console(stderr=True)
_SINCE = re.compile(r"^(\d+)([dhw])$")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def parse_since(text: str) -> timedelta:
    """`30d`, `12h` or `2w` as a timedelta; BadParameter otherwise."""
    match = _SINCE.match(text.strip())
    if match is None:
        raise typer.BadParameter(f"{text!r} is not like 30d, 12h or 2w", param_hint="--since")
    return int(match.group(1)) * _UNITS[match.group(2)]


@contextmanager
def _registry() -> Iterator[Session]:
    from registry.db import make_engine, session_scope

    try:
        settings = Settings()
    except ValidationError as exc:
        _stderr.print(Text(f"Invalid PAVED_* settings:\n{exc}", style="red"))
        raise typer.Exit(2) from exc
    engine = make_engine(settings.registry_url)
    try:
        with session_scope(engine) as session:
            yield session
    finally:
        engine.dispose()


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def journal_report(
    since: Annotated[str, typer.Option("--since", help="How far back: 30d, 12h, 2w.")] = "30d",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    chart: Annotated[
        Path | None,
        typer.Option(
            "--chart",
            metavar="FILE.png",
            dir_okay=False,
            help="Also write the PNG chart of requests per week by action to this file.",
        ),
    ] = None,
) -> None:
    """Runs by action, team and state; durations; failures; manual tasks to automate."""
    from registry.reports import build_report, requests_per_week

    start = datetime.now(UTC) - parse_since(since)
    with _registry() as session:
        report = build_report(session, since=start)
        weeks = requests_per_week(session, since=start) if chart is not None else None
    if chart is not None and weeks is not None:
        # The flow's chart, drawn by the same function (it imports Prefect: only when asked).
        from flows.journal.report import journal_chart_png

        try:
            chart.write_bytes(journal_chart_png(weeks, since=start))
        except OSError as exc:
            _stderr.print(Text(f"✗ cannot write the chart to {chart}: {exc}", style="red"))
            raise typer.Exit(1) from exc
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
        return
    _stdout.print(
        f"[bold]{report.runs}[/] runs since {start:%Y-%m-%d %H:%M} UTC · failure rate "
        f"[bold]{report.failure_rate:.1%}[/] · p50 {_seconds(report.p50_seconds)} s · "
        f"p95 {_seconds(report.p95_seconds)} s · {report.manual_tasks} manual tasks "
        f"({report.manual_minutes:.0f} min)"
    )
    actions = Table(title="Automated actions", title_justify="left")
    for column in ("action", "runs", "completed", "failed", "failure rate", "p50 s", "p95 s"):
        actions.add_column(column, justify="left" if column == "action" else "right")
    for a in report.actions:
        actions.add_row(
            a.action,
            str(a.runs),
            str(a.completed),
            str(a.failed),
            f"{a.failure_rate:.1%}",
            _seconds(a.p50_seconds),
            _seconds(a.p95_seconds),
        )
    _stdout.print(actions)
    candidates = Table(title="Automation candidates (count x minutes)", title_justify="left")
    for column in ("category", "count", "minutes", "score", "latest"):
        candidates.add_column(
            column, justify="right" if column in {"count", "minutes", "score"} else "left"
        )
    for c in report.automation_candidates:
        candidates.add_row(
            c.category, str(c.count), f"{c.total_minutes:.0f}", f"{c.score:.0f}", c.example
        )
    _stdout.print(candidates)
    if report.top_failure_reasons:
        reasons = Table(title="Top failure reasons", title_justify="left")
        reasons.add_column("runs", justify="right")
        reasons.add_column("reason")
        for r in report.top_failure_reasons:
            reasons.add_row(str(r.count), r.reason)
        _stdout.print(reasons)
    if chart is not None:
        _stdout.print(Text(f"Chart of requests per week by action: {chart}"), soft_wrap=True)


def journal_log(
    what: Annotated[str, typer.Argument(help="What was asked and done (10+ characters).")],
    category: Annotated[str, typer.Option("--category", help="Kind of task, e.g. dns.")],
    team: Annotated[str, typer.Option("--team", help="The team it was done for.")],
    minutes: Annotated[int, typer.Option("--minutes", help="Minutes it took (1-1440).")],
    requester: Annotated[str, typer.Option("--requester", help="Who asked (GitHub handle).")],
    service: Annotated[
        str | None, typer.Option("--service", help="The service concerned, if any.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Journal a task done by hand, so `paved journal report` counts it."""
    from flows.actions.manual_task import ManualTaskRequest, record_in
    from registry.errors import NotFound

    try:
        request = ManualTaskRequest(
            what=what,
            category=category,
            team=team,
            minutes_spent=minutes,
            requester=requester,
            service=service,
        )
    except ValidationError as exc:
        _stderr.print(Text("✗ invalid manual task:", style="red"))
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            _stderr.print(Text(f"  {where}: {error['msg']}"), soft_wrap=True)
        raise typer.Exit(2) from exc
    try:
        with _registry() as session:
            result = record_in(session, request)
    except NotFound as exc:
        _stderr.print(Text(f"✗ {exc}", style="red"))
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    _stdout.print(
        f"✓ journaled {minutes} min of {category} for {team} (journal row {result.journal_id})"
    )


def journal_list(
    service: Annotated[str | None, typer.Option("--service", help="Only this service.")] = None,
    requester: Annotated[
        str | None, typer.Option("--requester", help="Only runs this person asked for.")
    ] = None,
    action: Annotated[
        str | None, typer.Option("--action", help="Only this action, e.g. service:create.")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="How far back: 30d, 12h, 2w.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many runs.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """Who asked for what, when, how it ended and who approved it; newest first."""
    from dataclasses import asdict

    from registry.journal import run_summaries

    start = datetime.now(UTC) - parse_since(since) if since else None
    with _registry() as session:
        runs = run_summaries(
            session,
            service=service,
            requester=requester,
            action=action,
            since=start,
            limit=limit,
        )
    if as_json:
        typer.echo(json.dumps([asdict(run) for run in runs], default=str, indent=2))
        return
    table = Table(title="Journal", title_justify="left")
    for column in ("started (UTC)", "action", "service", "requester", "state", "approved by"):
        table.add_column(column)
    table.add_column("s", justify="right")
    table.add_column("note", overflow="fold")
    for run in runs:
        note = run.error or ""
        if run.refused:
            note = f"refused: {', '.join(run.refused)}" + (f"; {note}" if note else "")
        table.add_row(
            f"{run.started_at:%Y-%m-%d %H:%M}",
            run.action,
            run.service,
            run.requester,
            run.state,
            run.approved_by or "",
            _seconds(run.duration_seconds),
            Text(note.splitlines()[0][:160] if note else ""),
        )
    _stdout.print(table)
