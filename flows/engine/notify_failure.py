"""Telling people: `notify_people` (channels from the registry) and the failure notice
every action sends when its run fails.

`notify_run_failure` is called by `flows.engine.runtime.journaled` when an action's body raises,
and by `journal:reconcile` when it finds a run that crashed (a killed process tells
nobody itself): one message to the requester and one to the service's on-call contact
(one per distinct person), naming the action, the run, its Prefect UI link and the
error. Each message is a cached task keyed by (the failed run, channel), so whoever
notices a failure first tells people, and nobody tells them twice. Nothing here raises:
a notice that cannot be sent is logged, and the run fails with its own error, never with
the notice's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import CachePolicy
from prefect.context import TaskRunContext
from prefect.settings import PREFECT_UI_URL

from flows.engine.session import registry_session
from registry import queries
from registry.policy import one_line
from tasks.logs import redact
from tasks.notify import notify
from tasks.retries import PROVIDER_TASK_OPTIONS

__all__ = ["SENT", "WITHOUT_CHANNEL", "flow_run_ui_url", "notify_people", "notify_run_failure"]

SENT = "sent"
WITHOUT_CHANNEL = "no channel"


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    try:
        return get_run_logger()
    except Exception:  # outside a run (a unit test, a script): the module's logger
        return logging.getLogger(__name__)


def flow_run_ui_url(flow_run_id: str) -> str | None:
    """The run's page in the Prefect UI, when PREFECT_UI_URL is known."""
    base = PREFECT_UI_URL.value()
    return f"{str(base).rstrip('/')}/runs/flow-run/{flow_run_id}" if base else None


def _once_per_run_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    return f"paved-failure-notice-{parameters['about_run']}-{parameters['channel']}"


# The same notice, about the same run and to the same channel, is sent once: its result
# is persisted under that key and a second call finds it (Prefect's task cache), whether
# the second call is the run's own hook again or journal:reconcile finding it crashed.
@task(
    name="notify: failure notice",
    **{**PROVIDER_TASK_OPTIONS, "cache_policy": CachePolicy.from_cache_key_fn(_once_per_run_key)},
    persist_result=True,
)
def _notify_once_per_run(channel: str, *, subject: str, body: str, about_run: str) -> None:
    notify.fn(channel, subject=subject, body=body)


def notify_people(
    handles: Iterable[str], *, subject: str, body: str, about_run: str | None = None
) -> dict[str, str]:
    """Send the message to each distinct person through their registry channel; with
    `about_run`, at most once per person's channel for that flow run, ever.

    Returns what happened per handle: `sent`, `no channel` (logged, not an error), or the
    error that stopped it. Never raises for a person it could not reach.
    """
    logger = _logger()
    wanted = list(dict.fromkeys(handle.strip().lower() for handle in handles if handle))
    with registry_session() as session:
        channels = queries.notify_channels(session, handles=wanted)
    outcome: dict[str, str] = {}
    for handle in wanted:
        channel = channels.get(handle)
        if not channel:
            logger.warning("%s has no notification channel in the registry; not notified", handle)
            outcome[handle] = WITHOUT_CHANNEL
            continue
        try:
            if about_run:
                _notify_once_per_run(channel, subject=subject, body=body, about_run=about_run)
            else:
                notify(channel, subject=subject, body=body)
        except Exception as exc:
            logger.warning("Could not notify %s through %s: %s", handle, channel, redact(exc))
            outcome[handle] = f"failed: {exc}"
        else:
            outcome[handle] = SENT
    return outcome


def notify_run_failure(
    *,
    action: str,
    flow_run_id: str,
    flow_run_name: str,
    requester: str,
    service: str,
    error: BaseException | str,
    crashed: bool = False,
) -> dict[str, str]:
    """Tell the requester and the service's on-call contact that the run failed (or,
    `crashed`, that its process died before it could say so); once per person and run.

    Returns the outcome per person (see `notify_people`); never raises.
    """
    try:
        with registry_session() as session:
            row = queries.get_service(session, name=service)
            oncall = row.oncall.handle if row is not None and row.oncall is not None else None
        url = flow_run_ui_url(flow_run_id)
        lines = [
            f"Action {action} {'crashed: its process stopped' if crashed else 'failed'}.",
            "",
            f"Run: {flow_run_name} ({flow_run_id})",
            f"Service: {service}",
            f"Requested by: {requester}",
        ]
        if url:
            lines.append(f"Prefect UI: {url}")
        # The error may quote what someone typed or a URL: one bounded line, credentials out.
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        lines += ["", f"Error: {redact(one_line(text, 1000))}"]
        if crashed:
            lines += ["", "What it had made is kept; re-running the request converges."]
        return notify_people(
            [requester, *([oncall] if oncall else [])],
            subject=f"Paved: {action} {'crashed' if crashed else 'failed'} ({flow_run_name})",
            body="\n".join(lines),
            about_run=flow_run_id,
        )
    except Exception:
        _logger().exception("Could not send the failure notice of run %s", flow_run_id)
        return {}
