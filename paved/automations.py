"""The Prefect automation that notices dead runs: `ensure_crash_detection`.

A flow run whose process is killed (a worker or a machine lost, `kill -9`, an evicted pod)
can write nothing more, so Prefect would show it Running for good. Every flow run of the
stack sends a heartbeat event every HEARTBEAT_SECONDS (paved.settings' prefect_env; a
production worker sets the same variable, docs/deploy.md). This automation, Prefect's own
documented pattern, expects another heartbeat or a final state within CRASH_AFTER_SECONDS
of each heartbeat, and marks the run Crashed when none comes. It expects the same of a run
a worker has taken (Submitting, Pending) until it is Running: a worker killed between
taking a run and starting it leaves a run that never beats at all. On Kubernetes, where a
pod may wait for its image longer than that, pass a longer window. Prefect's Crashed event then
triggers `journal:reconcile` (prefect.yaml), which journals the end, crashes the run's
children, settles its registry statuses and tells its requester and on-call contact once.

So a dead run is Crashed at most CRASH_AFTER_SECONDS (+ the server's evaluation tick, about
5 s) after its last heartbeat, which is at most CRASH_AFTER_SECONDS after its death.
"""

from __future__ import annotations

from datetime import timedelta

from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.events.actions import ChangeFlowRunState
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification

from paved.settings import CRASH_AFTER_SECONDS

__all__ = ["CRASH_DETECTION", "crash_detection", "ensure_crash_detection"]

CRASH_DETECTION = "paved: mark runs without heartbeats Crashed"
# A run a worker took (Submitting, Pending; InfrastructurePending on Kubernetes) must be
# Running within the same window: a worker killed between taking a run and starting its
# process leaves a run that never sends a heartbeat at all.
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
    """The automation: after each heartbeat of a run, and after a worker took it, expect a
    heartbeat, its start or a final state within `after_seconds`, else mark it Crashed."""
    return AutomationCore(
        name=CRASH_DETECTION,
        description=(
            f"A flow run that sent no heartbeat for {after_seconds:g} s has lost its process: "
            "marked Crashed, which journal:reconcile journals and tells people about."
        ),
        enabled=True,
        trigger=EventTrigger(
            # Running arms it too: a run killed (or whose first beat was lost with an API
            # server) between its start and its first heartbeat would never be watched.
            after={"prefect.flow-run.heartbeat", "prefect.flow-run.Running", *_TAKEN_EVENTS},
            expect={"prefect.flow-run.heartbeat", "prefect.flow-run.Running", *_FINAL_EVENTS},
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=after_seconds),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                name="Crashed",
                force=True,
                message=(
                    f"No heartbeat for {after_seconds:g} s: the run's process died "
                    "(its worker, machine or pod was lost). Re-run the request: it converges."
                ),
            )
        ],
    )


def ensure_crash_detection(after_seconds: float = CRASH_AFTER_SECONDS) -> str:
    """Create the automation, or bring an existing one of the same name up to date;
    returns its id. Idempotent: `paved up` calls it on every start."""
    wanted = crash_detection(after_seconds)
    with get_client(sync_client=True) as client:
        existing = client.read_automations_by_name(CRASH_DETECTION)
        for duplicate in existing[1:]:
            client.delete_automation(duplicate.id)
        if existing:
            client.update_automation(existing[0].id, wanted)
            return str(existing[0].id)
        return str(client.create_automation(wanted))
