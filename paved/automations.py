"""The Prefect automations that notice dead runs: `ensure_crash_detection`.

A flow run whose process is killed (a worker or a machine lost, `kill -9`, an evicted pod)
can write nothing more, so Prefect would show it Running for good. Every flow run of the
stack sends a heartbeat event every HEARTBEAT_SECONDS (paved.settings' prefect_env; a
production worker sets the same variable, docs/deploy.md). Two automations, Prefect's own
documented pattern, watch for the silence and mark the run Crashed:

- CRASH_DETECTION: after a run's start (Running) and after each heartbeat, another
  heartbeat or a final state is expected within CRASH_AFTER_SECONDS;
- START_DETECTION: a run a worker has taken (Submitting, Pending, InfrastructurePending)
  is expected to start, or end, within START_AFTER_SECONDS. A worker killed between taking
  a run and starting it leaves a run that never beats at all; a live one may wait minutes
  for its process (a busy worker, a pod pulling its image, a server answering 503 under a
  burst), so this window is the longer one.

Prefect's Crashed event then triggers `journal:reconcile` (prefect.yaml), which journals the
end, crashes the run's children, settles its registry statuses and tells its requester and
on-call contact once. The state change is never forced: Prefect refuses to end a finished
run again, which matters when its triggers service, under load, reads a run's Completed
before its Running and the late Running arms the watch.

So a dead run is Crashed at most CRASH_AFTER_SECONDS (+ the server's evaluation tick, about
5 s) after its last heartbeat, which is at most CRASH_AFTER_SECONDS after its death; a run
whose worker died before starting it, within START_AFTER_SECONDS.
"""

from __future__ import annotations

from datetime import timedelta

from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.events.actions import ChangeFlowRunState
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification

from paved.settings import CRASH_AFTER_SECONDS, START_AFTER_SECONDS

__all__ = [
    "CRASH_DETECTION",
    "START_DETECTION",
    "crash_detection",
    "ensure_crash_detection",
    "start_detection",
]

CRASH_DETECTION = "paved: mark runs without heartbeats Crashed"
START_DETECTION = "paved: mark runs never started Crashed"
_TAKEN_EVENTS = {
    "prefect.flow-run.Submitting",
    "prefect.flow-run.Pending",
    "prefect.flow-run.InfrastructurePending",
}
_FINAL_EVENTS = {
    "prefect.flow-run.Completed",
    "prefect.flow-run.Failed",
    "prefect.flow-run.Cancelled",
    "prefect.flow-run.Crashed",
}


def crash_detection(after_seconds: float = CRASH_AFTER_SECONDS) -> AutomationCore:
    """After a run's start and each heartbeat, expect a heartbeat or a final state within
    `after_seconds`, else mark it Crashed."""
    return _silence_watch(
        name=CRASH_DETECTION,
        # Running arms it too: a run killed (or whose first beat was lost with an API
        # server) between its start and its first heartbeat would never be watched.
        after={"prefect.flow-run.heartbeat", "prefect.flow-run.Running"},
        expect={"prefect.flow-run.heartbeat", "prefect.flow-run.Running", *_FINAL_EVENTS},
        seconds=after_seconds,
        description=f"A flow run that sent no heartbeat for {after_seconds:g} s has lost its "
        "process: marked Crashed, which journal:reconcile journals and tells people about.",
        message=f"No heartbeat for {after_seconds:g} s: the run's process died (its worker, "
        "machine or pod was lost). Re-run the request: it converges.",
    )


def start_detection(after_seconds: float = START_AFTER_SECONDS) -> AutomationCore:
    """After a worker took a run, expect its start or a final state within
    `after_seconds`, else mark it Crashed."""
    return _silence_watch(
        name=START_DETECTION,
        after=_TAKEN_EVENTS,
        expect={"prefect.flow-run.Running", "prefect.flow-run.heartbeat", *_FINAL_EVENTS},
        seconds=after_seconds,
        description=f"A flow run a worker took but did not start within {after_seconds:g} s "
        "has lost its worker: marked Crashed, which journal:reconcile journals and tells "
        "people about.",
        message=f"Not started {after_seconds:g} s after a worker took it: the worker (or its "
        "machine or pod) was lost. Re-run the request: it converges.",
    )


def _silence_watch(
    *,
    name: str,
    after: set[str],
    expect: set[str],
    seconds: float,
    description: str,
    message: str,
) -> AutomationCore:
    return AutomationCore(
        name=name,
        description=description,
        enabled=True,
        trigger=EventTrigger(
            after=after,
            expect=expect,
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=seconds),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                name="Crashed",
                # Not forced: Prefect then refuses to end a finished run again. Under load
                # its triggers service can read a run's Completed before its Running, and
                # that late Running arms the watch on a run that has ended.
                force=False,
                message=message,
            )
        ],
    )


def ensure_crash_detection(
    after_seconds: float = CRASH_AFTER_SECONDS, *, start_seconds: float = START_AFTER_SECONDS
) -> str:
    """Create both automations, or bring existing ones of the same names up to date;
    returns the id of CRASH_DETECTION. Idempotent: `paved up` calls it on every start."""
    crash_id = _ensure(crash_detection(after_seconds))
    _ensure(start_detection(start_seconds))
    return crash_id


def _ensure(wanted: AutomationCore) -> str:
    with get_client(sync_client=True) as client:
        existing = client.read_automations_by_name(wanted.name)
        for duplicate in existing[1:]:
            client.delete_automation(duplicate.id)
        if existing:
            client.update_automation(existing[0].id, wanted)
            return str(existing[0].id)
        return str(client.create_automation(wanted))
