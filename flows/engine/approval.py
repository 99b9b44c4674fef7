"""Approval by the service's change approver, proven with a one-time code.

Prefect OSS knows no users: anyone who can reach the UI can resume a paused run. So the
run sends a one-time code to one approver alone, through their notification channel,
and accepts the resume only from that handle with that code. An approval never goes to
the run's own requester (read from the run's journal, which the gateway stamped):

    approver = the service's change approver
               | the owning team's lead      when the change approver asked (or left)
               | the first active admin      when the lead asked too: the admin team is
                 (alphabetically)            the `admin_team` of the registry block
               | none: NotAuthorized

    request_approval(context=ctx, action=ACTION, summary="push on acme/orders for erin")
      -> code = secrets.token_hex(5), sent to the approver (never logged)
      -> journal `Paused`, parameters["approval"]["approver"] naming them (the gateway
         lets only that person resume: registry.journal.pending_approval)
      -> pause_flow_run(wait_for_input=ApprovalInput)      the approver resumes the run
      -> handle is that approver and the code matches (hmac.compare_digest)
           yes: journal `Approved` (approver in the parameters), return Approval
           no:  journal `Rejected` (who, and why), raise NotAuthorized
      -> no answer within the timeout: journal `Rejected`, raise NotAuthorized

The code is valid for this run only and appears in no log, parameter, artifact or journal
row; the typed field is a SecretStr, so it does not show even when the input is printed.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime
from typing import Any

from prefect import get_run_logger
from prefect.context import FlowRunContext
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from pydantic import BaseModel, Field, SecretStr
from sqlalchemy.orm import Session

from blocks import REGISTRY_BLOCK, RegistryDatabase, load_block
from flows.engine.context import ServiceContext
from flows.engine.notify_failure import flow_run_ui_url
from flows.engine.runtime import journal_state
from flows.engine.session import registry_session
from registry import queries
from registry.errors import NotAuthorized
from registry.models import utc_now
from tasks.notify import notify

__all__ = ["Approval", "ApprovalInput", "ApprovalRoute", "request_approval", "route_approval"]

CODE_BYTES = 5  # ten hex digits: typeable, and 2**40 guesses for one try


class ApprovalInput(RunInput):
    """What the approver types into the paused run's form (the gateway fills `approver`
    with the signed-in handle)."""

    approver: str = Field(description="Your GitHub handle: the person the approval was sent to.")
    code: SecretStr = Field(description="The one-time code Paved sent you for this run.")


class Approval(BaseModel):
    """Who approved, and when."""

    approver: str = Field(description="Handle of the person who approved.")
    approved_at: datetime = Field(description="When the approval was accepted (UTC).")
    action: str = Field(description="The action approved.")
    summary: str = Field(description="What was approved.")


class ApprovalRoute(BaseModel):
    """Who an approval goes to, and in what capacity."""

    approver: str = Field(description="Handle of the person asked to approve.")
    role: str = Field(description="Why them, e.g. `change approver of orders`.")
    note: str | None = Field(
        default=None, description="Why not the change approver, when it is someone else."
    )


def route_approval(
    session: Session, *, context: ServiceContext, requester: str, admin_team: str
) -> ApprovalRoute:
    """The person an approval of `requester`'s run on `context.service` goes to: the
    change approver, else the team lead, else the alphabetically first active admin;
    never `requester`, never someone inactive. NotAuthorized when nobody is left."""
    asked = requester.strip().lower()
    approver = context.change_approver
    if approver is None:
        raise NotAuthorized(
            f"service {context.service!r} has no change approver in the registry: "
            "an approval needs one; ask the platform team to set it"
        )
    skipped: list[str] = []

    def available(handle: str, role: str) -> bool:
        person = queries.get_person(session, handle=handle)
        if person is None or not person.active:
            skipped.append(f"{handle}, the {role}, is not active")
            return False
        if person.handle == asked:
            skipped.append(f"{handle}, the {role}, asked for it")
            return False
        return True

    def route(handle: str, role: str) -> ApprovalRoute:
        return ApprovalRoute(approver=handle, role=role, note="; ".join(skipped) or None)

    team = queries.get_team(session, slug=context.team)
    lead = team.lead.handle if team is not None and team.lead is not None else None
    lead_role = f"lead of team {context.team}"
    both = " and " + lead_role if lead == approver else ""
    if available(approver, "change approver" + both):
        return route(approver, f"change approver of {context.service}")
    if lead is not None and lead != approver and available(lead, lead_role):
        return route(lead, lead_role)
    admins = (
        queries.active_team_members(session, slug=admin_team)
        if queries.get_team(session, slug=admin_team) is not None
        else []
    )
    for admin in admins:
        if admin != asked:
            return route(admin, f"admin (team {admin_team})")
    raise NotAuthorized(
        f"nobody may approve {asked}'s request on {context.service}: "
        + "; ".join([*skipped, f"admin team {admin_team!r} has no other active member"])
        + ". An approval never goes to its own requester; ask someone else to request it"
    )


def _requester(flow_run_id: str) -> str:
    """The run's requester as its journal recorded it (the gateway stamps it)."""
    with registry_session() as session:
        entries = queries.journal_for_run(session, flow_run_id=flow_run_id)
        if not entries:
            raise RuntimeError("request_approval runs inside journaled(...)")
        return entries[0].requester


def _run() -> tuple[str, str]:
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        raise RuntimeError("request_approval runs inside a Paved flow run")
    return str(context.flow_run.id), context.flow_run.name


def _journal(flow_run_id: str, *, state: str, extra: dict[str, Any], error: str | None) -> None:
    """Append an approval state to the run's journal."""
    journal_state(flow_run_id, state=state, key="approval", extra=extra, error=error)


def _message(
    *,
    context: ServiceContext,
    route: ApprovalRoute,
    requester: str,
    action: str,
    summary: str,
    flow_run_id: str,
    flow_run_name: str,
    code: str,
    timeout_seconds: int,
) -> str:
    url = flow_run_ui_url(flow_run_id)
    lines = [
        f"Paved asks you, {route.approver}, as {route.role}, to approve {requester}'s request "
        f"on service {context.service}:",
        "",
        f"  {action}: {summary}",
        "",
    ]
    if route.note:
        lines += [f"It comes to you because {route.note}.", ""]
    lines.append(f"Run: {flow_run_name} ({flow_run_id})")
    if url:
        lines.append(f"Resume it in the Prefect UI: {url}")
    lines += [
        "",
        f"To approve, resume the run with your handle ({route.approver}) and this "
        f"one-time code: {code}",
        f"The code is valid for this run only, for {timeout_seconds} seconds. "
        "If you did not expect this, do nothing: the run is rejected when it times out.",
    ]
    return "\n".join(lines)


def request_approval(
    *,
    context: ServiceContext,
    action: str,
    summary: str,
    timeout_seconds: int = 3600,
    poll_interval_seconds: float = 2,
) -> Approval:
    """Pause the run until its approver (see the module doc: never the run's requester)
    approves it with the code sent to them; returns who approved and when. Raises
    NotAuthorized when nobody may approve or the approver is unreachable, the answer is
    wrong, or no answer comes in time."""
    logger = get_run_logger()
    flow_run_id, flow_run_name = _run()
    requester = _requester(flow_run_id)
    admin_team = load_block(RegistryDatabase, REGISTRY_BLOCK).admin_team
    with registry_session() as session:
        route = route_approval(session, context=context, requester=requester, admin_team=admin_team)
        approver = route.approver
        channel = queries.notify_channels(session, handles=[approver]).get(approver)
    if not channel:
        raise NotAuthorized(
            f"{approver!r} ({route.role}) has no notification channel in the registry, "
            "so no approval code can reach them"
        )
    code = secrets.token_hex(CODE_BYTES)
    notify(
        channel,
        subject=f"Paved: approval needed for {action} on {context.service}",
        body=_message(
            context=context,
            route=route,
            requester=requester,
            action=action,
            summary=summary,
            flow_run_id=flow_run_id,
            flow_run_name=flow_run_name,
            code=code,
            timeout_seconds=timeout_seconds,
        ),
    )
    waiting = {
        "action": action,
        "summary": summary,
        "approver": approver,
        "approver_role": route.role,
        "change_approver": context.change_approver,
    }
    _journal(flow_run_id, state="Paused", extra=waiting, error=None)
    logger.info(
        "Waiting up to %s s for %s (%s) to approve: %s",
        timeout_seconds,
        approver,
        route.role,
        summary,
    )
    try:
        # Prefect types poll_interval as int; it sleeps with time.sleep, so a float works.
        answer: ApprovalInput = pause_flow_run(  # type: ignore[call-overload]
            wait_for_input=ApprovalInput.with_initial_data(
                description=(
                    f"**{action}**: {summary}\n\nSent to {approver} ({route.role}): only "
                    f"{approver} can approve, with the one-time code Paved sent them."
                )
            ),
            timeout=timeout_seconds,
            poll_interval=poll_interval_seconds,
        )
    except FlowPauseTimeout as exc:
        timed_out = f"no approval from {approver} within {timeout_seconds} s"
        _journal(flow_run_id, state="Rejected", extra=waiting, error=timed_out)
        # Prefect's server fails a run whose pause timed out with its own message ("never
        # resumed"): the log and the journal say why.
        logger.error("%s rejected: %s", action, timed_out)
        raise NotAuthorized(f"{action} rejected: {timed_out}") from exc

    given = answer.approver.strip().lower()
    reason: str | None
    if given != approver:
        reason = f"{given!r} may not approve: this approval was sent to {approver} ({route.role})"
    elif not hmac.compare_digest(answer.code.get_secret_value().strip(), code):
        reason = f"wrong approval code given by {given!r}"
    else:
        reason = None
    if reason is not None:
        _journal(
            flow_run_id, state="Rejected", extra={**waiting, "answered_by": given}, error=reason
        )
        logger.error("%s rejected: %s", action, reason)
        raise NotAuthorized(f"{action} rejected: {reason}")

    approval = Approval(approver=approver, approved_at=utc_now(), action=action, summary=summary)
    _journal(flow_run_id, state="Approved", extra={**waiting, "approved_by": approver}, error=None)
    logger.info("%s approved by %s", action, approver)
    return approval
