"""Dead runs are noticed by Prefect's server, without a new worker: the automation of
paved.automations marks a run Crashed once its heartbeats stop.

A real flow run in its own process is killed with SIGKILL, as a lost worker or pod would
be. The automation is made with a short window so the test waits seconds, not the stack's
CRASH_AFTER_SECONDS (a live run beats every 30 s, so the short window only suits a run
killed right after its first beat)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowFilter, FlowFilterName
from prefect.settings import PREFECT_API_URL

from paved.automations import (
    CRASH_DETECTION,
    START_DETECTION,
    crash_detection,
    ensure_crash_detection,
)
from paved.settings import CRASH_AFTER_SECONDS, START_AFTER_SECONDS

WINDOW_SECONDS = 10  # the least Prefect accepts for a proactive trigger


def test_the_automation_is_made_once_and_kept_up_to_date(prefect_api: None) -> None:
    first = ensure_crash_detection(after_seconds=WINDOW_SECONDS)
    second = ensure_crash_detection()

    with get_client(sync_client=True) as client:
        [automation] = client.read_automations_by_name(CRASH_DETECTION)
        [start] = client.read_automations_by_name(START_DETECTION)
    assert str(automation.id) == first == second
    assert automation.trigger.within.total_seconds() == CRASH_AFTER_SECONDS  # type: ignore[union-attr]
    assert start.trigger.within.total_seconds() == START_AFTER_SECONDS  # type: ignore[union-attr]
    assert crash_detection().actions[0].type == "change-flow-run-state"


def test_a_killed_run_is_marked_crashed_by_the_server(prefect_api: None, tmp_path: Path) -> None:
    ensure_crash_detection(after_seconds=WINDOW_SECONDS)
    marker = tmp_path / "running"
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    env["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] = "30"
    script = Path(__file__).with_name("dying_flow.py")
    process = subprocess.Popen([sys.executable, str(script), str(marker)], env=env)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert process.poll() is None and time.monotonic() < deadline, "the run never started"
            time.sleep(0.1)
        time.sleep(1)  # its first heartbeat is sent as it starts
        os.kill(process.pid, signal.SIGKILL)
        killed_at = time.monotonic()
    finally:
        process.kill()
        process.wait()

    with get_client(sync_client=True) as client:
        [run] = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["dying-probe"])), limit=1
        )
        state, _ = _final_state(
            client, run.id, within=killed_at + WINDOW_SECONDS + 60 - time.monotonic()
        )
    assert state.is_crashed(), (
        f"still {state.name} {time.monotonic() - killed_at:.0f} s after the kill"
    )
    assert f"No heartbeat for {WINDOW_SECONDS} s" in (state.message or "")


def test_a_run_that_started_but_never_sent_a_heartbeat_is_crashed(prefect_api: None) -> None:
    """The run died (or its first beat was lost with an API server) between its start and
    its first heartbeat: it never beats, and may not stay Running for good (make chaos saw
    it)."""
    from prefect.states import Running

    ensure_crash_detection(after_seconds=WINDOW_SECONDS)
    with get_client(sync_client=True) as client:
        run = client.create_flow_run(_never_beating())
        client.set_flow_run_state(run.id, Running(), force=True)
        state, waited = _final_state(client, run.id, within=WINDOW_SECONDS + 60)
    assert state.is_crashed(), f"still {state.name} {waited:.0f} s later"
    assert f"No heartbeat for {WINDOW_SECONDS} s" in (state.message or "")


def test_a_run_a_worker_took_waits_for_its_process_longer_then_is_crashed(
    prefect_api: None,
) -> None:
    """A worker killed between taking a run and starting it leaves it Submitting, and it
    never beats (make chaos saw it). A live run may wait minutes there for its process
    (the SQLite stack's burst of 50 kept runs Pending for minutes), so it is given the
    longer start window, not the heartbeat window."""
    from prefect.states import Submitting

    start_window = WINDOW_SECONDS * 3
    ensure_crash_detection(after_seconds=WINDOW_SECONDS, start_seconds=start_window)
    with get_client(sync_client=True) as client:
        run = client.create_flow_run(_never_beating())
        client.set_flow_run_state(run.id, Submitting(), force=True)
        taken_at = time.monotonic()
        time.sleep(WINDOW_SECONDS * 2)
        waiting = client.read_flow_run(run.id).state
        assert waiting is not None and waiting.name == "Submitting", (
            f"{waiting and waiting.name} after {time.monotonic() - taken_at:.0f} s: "
            "crashed within the heartbeat window"
        )
        state, waited = _final_state(client, run.id, within=start_window + 60)
    assert state.is_crashed(), f"still {state.name} {waited:.0f} s later"
    assert f"Not started {start_window} s after a worker took it" in (state.message or "")


def _never_beating() -> Any:
    from prefect import flow

    @flow(name="never-beating-probe")
    def never_beating() -> None:
        """Never runs: only its Prefect record exists."""

    return never_beating


def _final_state(client: Any, run_id: Any, *, within: float) -> tuple[Any, float]:
    """The run's state once final, or when `within` seconds have passed; and the wait."""
    started = time.monotonic()
    while True:
        state = client.read_flow_run(run_id).state
        assert state is not None
        if state.is_final() or time.monotonic() - started > within:
            return state, time.monotonic() - started
        time.sleep(0.5)


def test_a_finished_run_is_never_crashed_by_a_late_event(prefect_api: None) -> None:
    """Under load Prefect's triggers service may read a run's events out of order: its
    Completed before its Running. The Running then arms the watch, nothing follows, and
    the automation fires on a run that has finished (the SQLite stack's burst of 50 had
    5 runs turned Crashed after they had Completed). Its state change is not forced:
    Prefect refuses to end a finished run twice, and the run stays Completed."""
    from prefect import flow
    from prefect.states import Completed, Running

    @flow(name="finished-probe")
    def finished() -> None:
        """Never runs: only its Prefect record exists."""

    automation = ensure_crash_detection(after_seconds=WINDOW_SECONDS)
    since = datetime.now(UTC)
    with get_client(sync_client=True) as client:
        run = client.create_flow_run(finished)
        client.set_flow_run_state(run.id, Running(), force=True)
        client.set_flow_run_state(run.id, Completed(), force=True)
        late = {
            "id": str(uuid4()),
            "occurred": datetime.now(UTC).isoformat(),
            "event": "prefect.flow-run.Running",
            "resource": {"prefect.resource.id": f"prefect.flow-run.{run.id}"},
        }
        _api("POST", "/events", [late])
        # The watch fires WINDOW_SECONDS after the late event, plus the service's tick.
        deadline = time.monotonic() + WINDOW_SECONDS + 45
        while not (acted := _actions_on(automation, f"prefect.flow-run.{run.id}", since)):
            assert time.monotonic() < deadline, "the automation never acted on the late event"
            time.sleep(1)
        state = client.read_flow_run(run.id).state
    assert state is not None and state.is_completed(), f"{state and state.name}: {acted}"


def _api(method: str, path: str, body: object) -> Any:
    """Prefect's REST API of the test server, for what its client does not offer."""
    response = httpx.request(method, f"{PREFECT_API_URL.value()}{path}", json=body, timeout=30)
    response.raise_for_status()
    return response.json() if response.content else None


def _actions_on(automation: str, target: str, since: datetime) -> list[str]:
    """The automation's action events (triggered, executed, failed) about `target`."""
    found = _api(
        "POST",
        "/events/filter",
        {
            "filter": {
                "occurred": {"since": since.isoformat()},
                "event": {"prefix": ["prefect.automation.action."]},
                "resource": {"id": [f"prefect.automation.{automation}"]},
            },
            "limit": 50,
        },
    )
    return [
        event["event"]
        for event in found["events"]
        if any(r.get("prefect.resource.id") == target for r in event.get("related", []))
    ]
