"""Supervising one process: startup failures, stale PID files, stopping whole groups."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from paved import processes
from paved.processes import (
    ComponentFailed,
    ManagedProcess,
    group_members,
    process_alive,
    process_cmdline,
    read_pid_file,
)
from sandbox.launch import LaunchSpec, Probe

ManagedFactory = Callable[..., ManagedProcess]


@pytest.fixture
def managed(tmp_path: Path) -> Iterator[ManagedFactory]:
    """Build ManagedProcess objects running a Python snippet; all are stopped afterwards."""
    made: list[ManagedProcess] = []

    def make(
        code: str,
        *,
        health: Callable[[], Probe] = lambda: Probe(True),
        env: dict[str, str] | None = None,
        startup_timeout: float = 10.0,
        stop_timeout: float = 10.0,
    ) -> ManagedProcess:
        spec = LaunchSpec(
            name="toy",
            argv=(sys.executable, "-c", code),
            health=health,
            env=env or {},
            startup_timeout=startup_timeout,
            stop_timeout=stop_timeout,
        )
        process = ManagedProcess(
            spec, pids_dir=tmp_path / "pids", logs_dir=tmp_path / "logs", port_setting=None
        )
        made.append(process)
        return process

    yield make
    for process in made:
        process.stop()


def _logged(tmp_path: Path, text: str) -> Callable[[], Probe]:
    """Healthy once the toy process has printed `text` (not just its command line)."""
    log_file = tmp_path / "logs" / "toy.log"

    def probe() -> Probe:
        lines = log_file.read_text().splitlines() if log_file.exists() else []
        return Probe(text in lines, None if text in lines else f"{text!r} not logged yet")

    return probe


SLEEPER = "import time; print('ready', flush=True); time.sleep(60)"


def test_a_child_dying_during_startup_fails_with_its_log_tail(managed: ManagedFactory) -> None:
    process = managed(
        "import sys; print('first run'); print('boom: no config file'); sys.exit(3)",
        health=lambda: Probe(False, "not yet"),
    )

    with pytest.raises(ComponentFailed) as failure:
        process.ensure_started()

    assert failure.value.component == "toy"
    assert "exited with code 3 during startup" in str(failure.value)
    assert "boom: no config file" in failure.value.log_tail
    assert "boom: no config file" in str(failure.value)
    assert not process.pid_file.exists()


def test_the_log_tail_shows_only_the_latest_launch(managed: ManagedFactory) -> None:
    process = managed("import sys; print('attempt'); sys.exit(1)", health=lambda: Probe(False))
    for _ in range(2):
        with pytest.raises(ComponentFailed) as failure:
            process.ensure_started()

    assert failure.value.log_tail == "attempt"
    assert process.log_file.read_text().count("\nattempt\n") == 2  # appended, not overwritten


def test_a_large_log_is_moved_aside_when_its_component_starts(
    managed: ManagedFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(processes, "LOG_ROTATE_BYTES", 1000)
    process = managed("import sys; print('attempt'); sys.exit(1)", health=lambda: Probe(False))
    process.log_file.parent.mkdir(parents=True)
    process.log_file.write_text("old line\n" * 200)  # 1,800 bytes: over the limit

    with pytest.raises(ComponentFailed):
        process.ensure_started()

    kept = process.log_file.with_name("toy.log.1")
    assert kept.read_text() == "old line\n" * 200
    assert "old line" not in process.log_file.read_text()
    assert "attempt" in process.log_file.read_text()
    with pytest.raises(ComponentFailed):
        process.ensure_started()  # under the limit now: appended to
    assert process.log_file.read_text().count("\nattempt\n") == 2


def test_a_component_never_healthy_times_out_and_is_killed(managed: ManagedFactory) -> None:
    process = managed(SLEEPER, health=lambda: Probe(False, "no answer"), startup_timeout=0.5)

    with pytest.raises(ComponentFailed, match=r"not healthy 0 s after start: no answer") as failure:
        process.ensure_started()

    assert "ready" in failure.value.log_tail
    assert not process.pid_file.exists()
    assert process.status()[0] is None


def test_a_missing_program_fails_clearly(tmp_path: Path) -> None:
    spec = LaunchSpec(
        name="ghost", argv=(str(tmp_path / "no-such-program"),), health=lambda: Probe(True)
    )
    process = ManagedProcess(spec, pids_dir=tmp_path, logs_dir=tmp_path, port_setting=None)

    with pytest.raises(ComponentFailed, match=r"cannot run .*no-such-program: No such file"):
        process.ensure_started()


def test_starting_twice_leaves_the_running_process_alone(
    managed: ManagedFactory, tmp_path: Path
) -> None:
    # Healthy once it ran its code: before its exec, /proc shows the parent's command line.
    process = managed(SLEEPER, health=_logged(tmp_path, "ready"))
    first = process.ensure_started()

    second = process.ensure_started()

    assert first.started and not second.started
    assert second.pid == first.pid
    record = read_pid_file(process.pid_file)
    assert record is not None and record.pid == first.pid
    assert record.argv == process.spec.argv


def test_a_process_started_with_older_settings_is_replaced(
    managed: ManagedFactory, tmp_path: Path
) -> None:
    # Healthy once it ran its code: before its exec, /proc shows the parent's command line.
    old = managed(SLEEPER, env={"TOY_SETTING": "1"}, health=_logged(tmp_path, "ready"))
    old_pid = old.ensure_started().pid
    new = managed(SLEEPER, env={"TOY_SETTING": "2"})

    pid, probe = new.status()
    assert pid == old_pid and not probe.healthy
    assert "older settings" in (probe.detail or "")

    result = new.ensure_started()

    assert result.started and result.pid != old_pid
    assert not process_alive(old_pid)


def test_stop_takes_the_whole_process_group(managed: ManagedFactory, tmp_path: Path) -> None:
    code = (
        "import subprocess, time; subprocess.Popen(['sleep', '60']);"
        " print('child', 'started', flush=True); time.sleep(60)"
    )
    process = managed(code, health=_logged(tmp_path, "child started"))
    pid = process.ensure_started().pid
    assert len(group_members(pid)) == 2

    assert process.stop()

    assert group_members(pid) == []
    assert not process.pid_file.exists()
    assert not process.stop()


def test_a_process_ignoring_sigterm_is_killed(managed: ManagedFactory, tmp_path: Path) -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        " print('ignoring', 'SIGTERM', flush=True); time.sleep(60)"
    )
    process = managed(code, health=_logged(tmp_path, "ignoring SIGTERM"), stop_timeout=0.3)
    pid = process.ensure_started().pid

    began = time.monotonic()
    assert process.stop()

    assert not process_alive(pid)
    assert time.monotonic() - began < 3


def test_a_dead_pid_is_reported_stale_and_replaced(managed: ManagedFactory) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    process = managed(SLEEPER)
    process.pid_file.parent.mkdir(parents=True)
    process.pid_file.write_text(f"{dead.pid}\n")

    pid, probe = process.status()
    assert pid is None and not probe.healthy
    assert probe.detail == f"not running (stale PID file: process {dead.pid} has exited)"

    result = process.ensure_started()
    assert result.started and result.pid != dead.pid
    record = read_pid_file(process.pid_file)
    assert record is not None and record.pid == result.pid


def test_a_pid_reused_by_another_program_is_never_signalled(managed: ManagedFactory) -> None:
    process = managed(SLEEPER)
    process.pid_file.parent.mkdir(parents=True)
    process.pid_file.write_text(f"{os.getpid()}\n")

    pid, probe = process.status()
    assert pid is None
    assert probe.detail == (
        f"not running (stale PID file: PID {os.getpid()} now belongs to another program)"
    )
    assert not process.stop()  # and this test is still alive to say so
    assert not process.pid_file.exists()


def test_an_unreadable_pid_file_is_replaced(managed: ManagedFactory) -> None:
    process = managed(SLEEPER)
    process.pid_file.parent.mkdir(parents=True)
    process.pid_file.write_text("not a pid\n")

    assert "unreadable PID file" in (process.status()[1].detail or "")
    assert process.ensure_started().started


def test_a_process_still_starting_gets_the_rest_of_its_startup_time(
    managed: ManagedFactory, tmp_path: Path
) -> None:
    code = "import time; time.sleep(0.5); print('up', 'now', flush=True); time.sleep(60)"
    process = managed(code, health=_logged(tmp_path, "up now"))
    # Another `paved up` spawned it a moment ago and is still waiting for it.
    process.log_file.parent.mkdir(parents=True)
    process.pid_file.parent.mkdir(parents=True)
    with process.log_file.open("ab") as log:
        other = subprocess.Popen(process.spec.argv, stdout=log, start_new_session=True)
    try:
        # Under load /proc can show the parent's command line for a moment after Popen
        # returns (CI saw it twice): wait until the child shows its own.
        deadline = time.monotonic() + 10
        while process_cmdline(other.pid)[-len(process.spec.argv) :] != process.spec.argv:
            assert time.monotonic() < deadline, process_cmdline(other.pid)
            time.sleep(0.01)
        argv_record = json.dumps({"argv": list(process.spec.argv), "env": {}})
        process.pid_file.write_text(f"{other.pid}\n{argv_record}\n")
        found, why = process.find()

        result = process.ensure_started()

        # CI once saw it replaced at once (the new PID was the next one): say what find saw.
        assert not result.started and result.pid == other.pid, (result, found, why)
        assert process.stop()
    finally:
        # Not left running into the next test (its Popen would warn there) if this fails.
        other.kill()
        other.wait()
