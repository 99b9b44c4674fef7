"""`paved notifications`: what the local webhook sink received, newest last.

The local stack's notification blocks post to the sink (sandbox.webhook_sink), so this
is the local inbox of every person: approval codes, failure notices.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import httpx
import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from paved.settings import Settings

__all__ = ["Notification", "fetch_notifications", "notifications"]


class Notification(BaseModel):
    """One message the sink received, as `paved notifications --json` prints it."""

    received_at: str
    to: str
    subject: str
    body: str


def _as_notification(message: dict[str, Any]) -> Notification:
    payload = message.get("body")
    if isinstance(payload, dict):
        subject = str(payload.get("subject") or payload.get("title") or "")
        body = payload.get("body", payload.get("text", ""))
        text = body if isinstance(body, str) else json.dumps(body)
    else:
        subject, text = "", str(payload or "")
    return Notification(
        received_at=str(message.get("received_at", "")),
        to=str(message.get("recipient", "")),
        subject=subject,
        body=text,
    )


def fetch_notifications(settings: Settings, *, to: str | None = None) -> list[Notification]:
    """The messages the stack's sink holds (for `to` only, if given), oldest first.

    Raises httpx.HTTPError when the sink does not answer.
    """
    params = {"to": to.lower()} if to else {}
    response = httpx.get(
        f"{settings.notify_url}/_sink/messages", params=params, timeout=5, trust_env=False
    )
    response.raise_for_status()
    return [_as_notification(message) for message in response.json()]


def notifications(
    to: Annotated[
        str | None, typer.Option("--to", help="Only messages to this handle.", metavar="HANDLE")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON list of messages, and nothing else.")
    ] = False,
) -> None:
    """List the notifications the local stack sent (approval codes, failure notices)."""
    stderr = Console(stderr=True)
    try:
        settings = Settings()
    except ValidationError as exc:
        stderr.print(Text(f"Invalid PAVED_* settings:\n{exc}", style="red"))
        raise typer.Exit(2) from exc
    try:
        found = fetch_notifications(settings, to=to)
    except httpx.HTTPError as exc:
        stderr.print(
            Text(
                f"✗ the webhook sink at {settings.notify_url} did not answer ({exc}); "
                "is the stack up? (`paved status`)",
                style="red",
            )
        )
        raise typer.Exit(1) from exc
    if as_json:
        typer.echo(json.dumps([n.model_dump() for n in found], indent=2))
        return
    title = f"Notifications{f' to {to}' if to else ''} ({len(found)})"
    table = Table(title=title, title_justify="left")
    for column in ("when", "to", "subject", "message"):
        table.add_column(column, overflow="fold")
    for item in found:
        first_line = item.body.strip().splitlines()[0] if item.body.strip() else ""
        table.add_row(item.received_at, item.to, Text(item.subject), Text(first_line))
    Console().print(table)
