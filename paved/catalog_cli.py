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
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from paved.credentials import NotSignedIn, gateway_identity, token_for
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
    """Point this process's Prefect client at the gateway, signed in with `token` (or
    later, with `temporary_settings(updates={PREFECT_API_KEY: token})`).

    Prefect reads its settings from the environment when first imported: call this before
    importing anything that imports Prefect. The stack's auth string is never used here.
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


def _detail(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    try:
        return str(response.json()["detail"]) if response is not None else str(exc)
    except (ValueError, KeyError, TypeError):
        return str(exc)


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

    from prefect.settings import PREFECT_API_KEY, temporary_settings

    with temporary_settings(updates={PREFECT_API_KEY: token}):
        _run_through_gateway(
            settings, action_id, deployment, parameters, wait=wait, as_json=as_json, timeout=timeout
        )


def _run_through_gateway(
    settings: Settings,
    action_id: str,
    deployment: str,
    parameters: dict[str, Any],
    *,
    wait: bool,
    as_json: bool,
    timeout: float,
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.exceptions import PrefectHTTPStatusError

    try:
        flow_run = run_deployment(deployment, parameters=parameters, timeout=0)
    except PrefectHTTPStatusError as exc:
        _stderr.print(Text(f"✗ {action_id} refused: {_detail(exc)}", style="red"), soft_wrap=True)
        raise typer.Exit(1) from exc
    url = f"{settings.gateway_url}/runs/flow-run/{flow_run.id}"  # type: ignore[union-attr]
    state_type, state_name = "SCHEDULED", "Scheduled"
    run_name = flow_run.name  # type: ignore[union-attr]
    if wait:
        deadline = time.monotonic() + timeout
        with get_client(sync_client=True) as client:
            while True:
                current = client.read_flow_run(flow_run.id)  # type: ignore[union-attr]
                # The flow names its run from the request once it starts.
                run_name = current.name
                if current.state is not None:
                    state_type = current.state.type.value
                    state_name = current.state.name or state_type.title()
                if state_type in _FINAL or time.monotonic() > deadline:
                    break
                time.sleep(_POLL_SECONDS)
    outcome = {
        "action": action_id,
        "flow_run_id": str(flow_run.id),  # type: ignore[union-attr]
        "name": run_name,
        "state": state_name,
        "url": url,
    }
    if as_json:
        typer.echo(json.dumps(outcome, indent=2))
    else:
        style = {"COMPLETED": "green", "FAILED": "red", "CRASHED": "red"}.get(state_type, "")
        Console().print(
            Text(f"{action_id} {outcome['name']}: {state_name}", style=style), soft_wrap=True
        )
        Console().print(Text(f"  {url}"), soft_wrap=True)
    if wait and state_type != "COMPLETED":
        raise typer.Exit(1)
