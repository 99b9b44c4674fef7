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
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowFilter, FlowFilterName
from prefect.settings import PREFECT_API_URL

from paved.automations import CRASH_DETECTION, crash_detection, ensure_crash_detection
from paved.settings import CRASH_AFTER_SECONDS

WINDOW_SECONDS = 10  # the least Prefect accepts for a proactive trigger


def test_the_automation_is_made_once_and_kept_up_to_date(prefect_api: None) -> None:
    first = ensure_crash_detection(after_seconds=WINDOW_SECONDS)
    second = ensure_crash_detection()

    with get_client(sync_client=True) as client:
        [automation] = client.read_automations_by_name(CRASH_DETECTION)
    assert str(automation.id) == first == second
    assert automation.trigger.within.total_seconds() == CRASH_AFTER_SECONDS  # type: ignore[union-attr]
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
        deadline = killed_at + WINDOW_SECONDS + 60
        while True:
            [run] = client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=["dying-probe"])), limit=1
            )
            assert run.state is not None
            if run.state.is_final() or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    assert run.state.is_crashed(), (
        f"still {run.state.name} {time.monotonic() - killed_at:.0f} s after the kill"
    )
    assert f"No heartbeat for {WINDOW_SECONDS} s" in (run.state.message or "")


@pytest.mark.parametrize("last_state", ["Submitting", "Running"])
def test_a_run_that_never_sent_a_heartbeat_is_crashed(prefect_api: None, last_state: str) -> None:
    """Submitting: the worker took the run and died before its process started. Running:
    the run died (or its first beat was lost with an API server) before its first
    heartbeat. Neither ever beats, and neither may stay unfinished for good (make chaos
    saw both)."""
    from prefect import flow
    from prefect.states import Running, Submitting

    @flow(name="never-beating-probe")
    def never_beating() -> None:
        """Never runs: only its Prefect record exists."""

    ensure_crash_detection(after_seconds=WINDOW_SECONDS)
    with get_client(sync_client=True) as client:
        run = client.create_flow_run(never_beating)
        client.set_flow_run_state(run.id, Submitting(), force=True)
        if last_state == "Running":
            client.set_flow_run_state(run.id, Running(), force=True)
        taken_at = time.monotonic()
        deadline = taken_at + WINDOW_SECONDS + 60
        while True:
            state = client.read_flow_run(run.id).state
            assert state is not None
            if state.is_final() or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    assert state.is_crashed(), f"still {state.name} {time.monotonic() - taken_at:.0f} s later"
