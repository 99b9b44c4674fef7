"""Plumbing every action flow shares: the run's tags, its name and its journal.

An action flow body reads:

    with journaled(action=ACTION, request=request, team=..., service=...) as journal:
        ...validate, write ahead, call providers, write ownership...

`journaled` tags the flow run so SREs can filter the Prefect UI by action, team, service
and requester, and appends a journal row when the run starts and another when it ends
(Completed or Failed, with the error), so the registry keeps the history after Prefect
prunes its runs. A failed run notifies its requester and the service's on-call contact
(flows.engine.notify_failure). The registry session is flows.engine.session's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext

from flows.engine.notify_failure import notify_run_failure
from flows.engine.request import PavedRequest, redacted
from flows.engine.session import registry_session
from registry import queries
from tasks.logs import redact

__all__ = [
    "JournalContext",
    "journal_state",
    "journaled",
    "owning_team",
    "request_field",
    "run_tags",
    "service_run_name",
]


def run_tags(*, action: str, team: str, service: str, requester: str) -> list[str]:
    """The tags DESIGN.md gives every flow run of Paved."""
    return [
        "paved",
        f"action:{action}",
        f"team:{team}",
        f"service:{service}",
        f"requester:{requester}",
    ]


def request_field(name: str) -> str:
    """Field `name` of the current run's `request` parameter (a dict before validation,
    a model after), or `?`; for run names, which must never fail a run."""
    from prefect.runtime import flow_run

    request = flow_run.parameters.get("request", {})
    value = request.get(name) if isinstance(request, dict) else getattr(request, name, None)
    return "?" if value is None else str(value)


def service_run_name(verb: str) -> Callable[[], str]:
    """A `flow_run_name` for an action on an existing service: `<verb>/<team>/<service>`,
    the team read from the registry (`unknown` when it has no such service: validation
    then fails the run with the reason)."""

    def name() -> str:
        service = request_field("service")
        try:
            team = owning_team(service)
        except Exception:  # a run name must never fail the run
            team = "unknown"
        return f"{verb}/{team}/{service}"

    return name


def owning_team(service: str) -> str:
    """The slug of the team owning `service`, or `unknown` when the registry has no such
    service (for run names and journal rows written before validation says why)."""
    with registry_session() as session:
        row = queries.get_service(session, name=service)
        return row.team.slug if row is not None else "unknown"


@dataclass(frozen=True)
class JournalContext:
    """What an action knows about its own run."""

    flow_run_id: str
    flow_run_name: str
    action: str


def _is_subflow() -> bool:
    context = FlowRunContext.get()
    return bool(context and context.flow_run and context.flow_run.parent_task_run_id)


def _current_flow_run() -> tuple[str, str, list[str]]:
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        raise RuntimeError("journaled() runs inside a Paved flow run")
    run = context.flow_run
    return str(run.id), run.name, list(run.tags)


def _add_tags(flow_run_id: str, existing: list[str], tags: list[str]) -> None:
    merged = list(dict.fromkeys([*existing, *tags]))
    if merged != existing:
        with get_client(sync_client=True) as client:
            client.update_flow_run(flow_run_id, tags=merged)  # type: ignore[arg-type]


@contextmanager
def journaled(
    *, action: str, request: PavedRequest, team: str, service: str
) -> Iterator[JournalContext]:
    """Tag the current flow run and journal its start and its end in the registry."""
    flow_run_id, flow_run_name, existing_tags = _current_flow_run()
    _add_tags(
        flow_run_id,
        existing_tags,
        run_tags(action=action, team=team, service=service, requester=request.requester),
    )
    parameters = redacted(request)
    started_at = datetime.now(UTC)
    entry = {
        "flow_run_id": flow_run_id,
        "action": action,
        "requester": request.requester,
        "team": team,
        "service": service,
        "parameters": parameters,
        "started_at": started_at,
    }
    with registry_session() as session:
        queries.append_journal(session, state="Running", **entry)  # type: ignore[arg-type]
    try:
        yield JournalContext(flow_run_id=flow_run_id, flow_run_name=flow_run_name, action=action)
    except BaseException as exc:
        # Redacted: an error may quote a URL with credentials; the journal outlives it.
        _journal_end(entry, state="Failed", error=redact(f"{type(exc).__name__}: {exc}"))
        # A failed subflow fails its parent, which tells the same people: notify once,
        # from the top-level run.
        if isinstance(exc, Exception) and not _is_subflow():
            notify_run_failure(
                action=action,
                flow_run_id=flow_run_id,
                flow_run_name=flow_run_name,
                requester=request.requester,
                service=service,
                error=exc,
            )
        raise
    _journal_end(entry, state="Completed", error=None)


def _journal_end(entry: dict[str, object], *, state: str, error: str | None) -> None:
    ended_at = datetime.now(UTC)
    started_at = entry["started_at"]
    assert isinstance(started_at, datetime)
    try:
        with registry_session() as session:
            queries.append_journal(
                session,
                state=state,
                ended_at=ended_at,
                duration_seconds=(ended_at - started_at).total_seconds(),
                error=error,
                **entry,  # type: ignore[arg-type]
            )
    except Exception:
        # The run's own outcome matters more than its journal row: log loudly and let
        # the journal reconciliation (from Prefect's API) fill the gap.
        get_run_logger().exception("Could not journal the end of run %s", entry["flow_run_id"])


def journal_state(
    flow_run_id: str, *, state: str, key: str, extra: dict[str, Any], error: str | None = None
) -> None:
    """Append a state within a journaled run (Paused, Approved, Remediated...), copying
    the run's first row and adding ``extra`` to its parameters under ``key``."""
    with registry_session() as session:
        appended = queries.append_run_state(
            session, flow_run_id=flow_run_id, state=state, key=key, extra=extra, error=error
        )
        if appended is None:
            raise RuntimeError("journal_state runs inside journaled(...)")
