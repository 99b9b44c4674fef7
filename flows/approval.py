"""Approval by the service's change approver, proven with a one-time code.

Prefect OSS knows no users: anyone who can reach the UI can resume a paused run. So the
run sends a one-time code to the change approver alone, through their notification
channel, and accepts the resume only from that handle with that code:

    request_approval(context=ctx, action=ACTION, summary="push on acme/orders for erin")
      -> code = secrets.token_hex(5), sent to the change approver (never logged)
      -> journal `Paused`
      -> pause_flow_run(wait_for_input=ApprovalInput)      the approver resumes the run
      -> handle is the change approver and the code matches (hmac.compare_digest)
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

from flows.notify_failure import flow_run_ui_url
from flows.registry_steps import ServiceContext
from flows.runtime import journal_state, registry_session
from registry import queries
from registry.errors import NotAuthorized
from registry.models import utc_now
from tasks.notify import notify

__all__ = ["Approval", "ApprovalInput", "request_approval"]

CODE_BYTES = 5  # ten hex digits: typeable, and 2**40 guesses for one try


class ApprovalInput(RunInput):
    """What the change approver types into the paused run's form."""

    approver: str = Field(description="Your GitHub handle: the service's change approver.")
    code: SecretStr = Field(description="The one-time code Paved sent you for this run.")


class Approval(BaseModel):
    """Who approved, and when."""

    approver: str = Field(description="Handle of the change approver who approved.")
    approved_at: datetime = Field(description="When the approval was accepted (UTC).")
    action: str = Field(description="The action approved.")
    summary: str = Field(description="What was approved.")


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
    action: str,
    summary: str,
    flow_run_id: str,
    flow_run_name: str,
    code: str,
    timeout_seconds: int,
) -> str:
    url = flow_run_ui_url(flow_run_id)
    lines = [
        f"Paved asks you, as change approver of service {context.service}, to approve:",
        "",
        f"  {action}: {summary}",
        "",
        f"Run: {flow_run_name} ({flow_run_id})",
    ]
    if url:
        lines.append(f"Resume it in the Prefect UI: {url}")
    lines += [
        "",
        f"To approve, resume the run with your handle ({context.change_approver}) and this "
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
    """Pause the run until the service's change approver approves it with the code sent
    to them; returns who approved and when. Raises NotAuthorized when the approver is
    missing or unreachable, the answer is wrong, or no answer comes in time."""
    logger = get_run_logger()
    flow_run_id, flow_run_name = _run()
    approver = context.change_approver
    if approver is None:
        raise NotAuthorized(
            f"service {context.service!r} has no change approver in the registry: "
            f"{action} needs one; ask the platform team to set it"
        )
    with registry_session() as session:
        channel = queries.notify_channels(session, handles=[approver]).get(approver)
    if not channel:
        raise NotAuthorized(
            f"change approver {approver!r} of service {context.service!r} has no notification "
            "channel in the registry, so no approval code can reach them"
        )
    code = secrets.token_hex(CODE_BYTES)
    notify(
        channel,
        subject=f"Paved: approval needed for {action} on {context.service}",
        body=_message(
            context=context,
            action=action,
            summary=summary,
            flow_run_id=flow_run_id,
            flow_run_name=flow_run_name,
            code=code,
            timeout_seconds=timeout_seconds,
        ),
    )
    waiting = {"action": action, "summary": summary, "change_approver": approver}
    _journal(flow_run_id, state="Paused", extra=waiting, error=None)
    logger.info(
        "Waiting up to %s s for %s (change approver of %s) to approve: %s",
        timeout_seconds,
        approver,
        context.service,
        summary,
    )
    try:
        # Prefect types poll_interval as int; it sleeps with time.sleep, so a float works.
        answer: ApprovalInput = pause_flow_run(  # type: ignore[call-overload]
            wait_for_input=ApprovalInput.with_initial_data(
                description=(
                    f"**{action}**: {summary}\n\nOnly {approver}, the change approver of "
                    f"{context.service}, can approve, with the one-time code Paved sent them."
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
        reason = f"{given!r} is not the change approver of {context.service} ({approver})"
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
