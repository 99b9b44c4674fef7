"""`paved actions` and `paved run`: the self-serve catalog from the terminal.

`paved run ACTION --param key=value ...` validates the parameters against the action's
request model here, before anything is created, then creates the flow run through the
action's deployment (so it runs on a worker, journaled like a run from the UI). It talks
to Prefect through the gateway, signed in with the token `paved login` stored: the
requester is whoever that token belongs to.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from paved.credentials import NotSignedIn, gateway_identity, token_for
from paved.gateway_client import GatewayRefused, GatewayUnreachable, PrefectApi
from paved.settings import Settings

__all__ = ["actions", "parse_params", "run"]

_stderr = Console(stderr=True)
# Final states: the run will not change any more.
_FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
# How often --wait reads the run: a user waits at most this long past the run's end
# (issue 12: no figure with a polling step coarser than 0.2 s).
_POLL_SECONDS = 0.2


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """`key=value` pairs as a dict; a value that parses as JSON (numbers, booleans, lists,
    objects) is taken as such, anything else as a string. Dotted keys nest: `a.b=1`."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r} is not key=value", param_hint="--param")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        target = params
        *parents, leaf = key.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    return params


def actions(
    as_json: Annotated[bool, typer.Option("--json", help="Print the catalog as JSON.")] = False,
) -> None:
    """List the self-serve actions and their deployments."""
    from flows.catalog import ACTIONS

    rows = [
        {
            "action": entry.id,
            "deployment": entry.deployment,
            "summary": entry.summary,
            "approval": entry.sensitive,
            "fields": sorted(entry.request_model.model_fields),
        }
        for entry in ACTIONS.values()
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="Paved self-serve actions", title_justify="left")
    for column in ("action", "deployment", "approval", "summary"):
        table.add_column(column, overflow="fold")
    for entry in ACTIONS.values():
        table.add_row(
            entry.id, entry.deployment, "may pause" if entry.sensitive else "", entry.summary
        )
    Console().print(table)


# Stands in for the signed-in person while a request is checked, before anyone signs in.
_SIGNED_IN = "signed-in-person"


def _validated(action_id: str, pairs: list[str]) -> tuple[str, dict[str, Any]]:
    """The deployment to run and its parameters, validated; exits 2 on a bad request.

    Self-serve actions take one `request` checked against their model (a requester not
    named is left to `_as_requester`: the signed-in person; the gateway refuses anyone
    else); housekeeping deployments take their flow's own parameters, checked against its
    signature.
    """
    from flows.catalog import HOUSEKEEPING, action

    if action_id in HOUSEKEEPING:
        entry = HOUSEKEEPING[action_id]
        try:
            return entry.deployment, entry.flow.validate_parameters(parse_params(pairs))
        except Exception as exc:
            _stderr.print(Text(f"✗ invalid parameters for {action_id}: {exc}", style="red"))
            raise typer.Exit(2) from exc
    try:
        found = action(action_id)
    except KeyError as exc:
        known = ", ".join(sorted(HOUSEKEEPING))
        _stderr.print(Text(f"✗ {exc.args[0]}; housekeeping: {known}", style="red"))
        raise typer.Exit(2) from exc
    params = parse_params(pairs)
    params.setdefault("requester", _SIGNED_IN)
    try:
        request = found.request_model.model_validate(params)
    except ValidationError as exc:
        _stderr.print(Text(f"✗ invalid request for {action_id}:", style="red"))
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "request"
            _stderr.print(Text(f"  {where}: {error['msg']}"), soft_wrap=True)
        raise typer.Exit(2) from exc
    return found.deployment, {"request": request.model_dump(mode="json")}


def _as_requester(parameters: dict[str, Any], handle: str) -> dict[str, Any]:
    request = parameters.get("request")
    if isinstance(request, dict) and request.get("requester") == _SIGNED_IN:
        return {**parameters, "request": {**request, "requester": handle}}
    return parameters


def use_gateway(settings: Settings, token: str = "") -> None:
    """Point this process's Prefect client at the gateway, signed in with `token`.

    `paved run` itself talks to the gateway with httpx (paved/gateway_client.py); Prefect
    is still imported to check housekeeping parameters against their flow's signature (and
    by flow modules holding request models), and reads its settings from the environment
    when first imported: call this before importing anything that imports Prefect. The
    stack's auth string is never used here.
    """
    settings.prefect_home.mkdir(parents=True, exist_ok=True)
    os.environ.pop("PREFECT_API_AUTH_STRING", None)
    os.environ.update(
        {
            "PREFECT_HOME": str(settings.prefect_home),
            "PREFECT_API_URL": settings.gateway_api_url,
            # Prefect's client sends its API key as `Authorization: Bearer <key>`.
            "PREFECT_API_KEY": token,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
        }
    )


def run(
    action_id: Annotated[
        str, typer.Argument(metavar="ACTION", help="An action id, e.g. service:create.")
    ],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="A request field as key=value (JSON values allowed)."),
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for a final state.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
    timeout: Annotated[
        float, typer.Option(help="With --wait: give up after this many seconds (exit 1).")
    ] = 3600,
) -> None:
    """Validate a request and run ACTION through its deployment; with --wait, exit 0 only
    when the run Completed."""
    settings = Settings()
    # Bad input is refused before anything else, signed in or not.
    use_gateway(settings)
    deployment, parameters = _validated(action_id, param or [])
    try:
        token = token_for(settings)
        identity = gateway_identity(settings, token)
    except NotSignedIn as exc:
        _stderr.print(Text(f"✗ {exc}", style="red"), soft_wrap=True)
        raise typer.Exit(1) from exc
    parameters = _as_requester(parameters, str(identity["handle"]))
    with PrefectApi(settings.gateway_api_url, token) as prefect:
        try:
            outcome = _submit(prefect, settings, action_id, deployment, parameters)
            if wait:
                outcome = _waited(prefect, outcome, timeout=timeout)
        except GatewayRefused as exc:
            _stderr.print(Text(f"✗ {action_id} refused: {exc.detail}", style="red"), soft_wrap=True)
            raise typer.Exit(1) from exc
        except GatewayUnreachable as exc:
            _stderr.print(Text(f"✗ {exc}", style="red"), soft_wrap=True)
            raise typer.Exit(1) from exc
    _print_outcome(outcome, as_json=as_json)
    if wait and outcome.state_type != "COMPLETED":
        raise typer.Exit(1)


@dataclass
class _Outcome:
    """A flow run `paved run` created, as last read."""

    action: str
    flow_run_id: str
    name: str
    state_type: str
    state_name: str
    url: str


def _submit(
    prefect: PrefectApi,
    settings: Settings,
    action_id: str,
    deployment: str,
    parameters: dict[str, Any],
) -> _Outcome:
    """Create the run through the gateway, as run_deployment(..., timeout=0) did."""
    created = prefect.create_flow_run(prefect.deployment_id(deployment), parameters)
    flow_run_id = str(created["id"])
    return _Outcome(
        action=action_id,
        flow_run_id=flow_run_id,
        name=str(created["name"]),
        state_type="SCHEDULED",
        state_name="Scheduled",
        url=f"{settings.gateway_url}/runs/flow-run/{flow_run_id}",
    )


def _waited(prefect: PrefectApi, outcome: _Outcome, *, timeout: float) -> _Outcome:
    """The run read every _POLL_SECONDS until final, or until `timeout` seconds passed."""
    deadline = time.monotonic() + timeout
    while True:
        current = prefect.read_flow_run(outcome.flow_run_id)
        # The flow names its run from the request once it starts.
        outcome.name = str(current["name"])
        state = current.get("state")
        if state is not None:
            outcome.state_type = str(state["type"])
            outcome.state_name = state.get("name") or outcome.state_type.title()
        if outcome.state_type in _FINAL or time.monotonic() > deadline:
            return outcome
        time.sleep(_POLL_SECONDS)


def _print_outcome(outcome: _Outcome, *, as_json: bool) -> None:
    if as_json:
        shown = {
            "action": outcome.action,
            "flow_run_id": outcome.flow_run_id,
            "name": outcome.name,
            "state": outcome.state_name,
            "url": outcome.url,
        }
        typer.echo(json.dumps(shown, indent=2))
        return
    style = {"COMPLETED": "green", "FAILED": "red", "CRASHED": "red"}.get(outcome.state_type, "")
    console = Console()
    console.print(
        Text(f"{outcome.action} {outcome.name}: {outcome.state_name}", style=style),
        soft_wrap=True,
    )
    console.print(Text(f"  {outcome.url}"), soft_wrap=True)
