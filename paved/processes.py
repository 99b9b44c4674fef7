"""Start, find, health-check and stop the long-running processes of the local stack.

    StackError              the local stack could not be brought to the asked state
    ├── PortInUse           a component's port is held by a process that is not ours
    └── ComponentFailed     a component would not start or not become healthy

Every process runs in its own session, so it outlives the `paved` command that started it
and can be stopped as a whole process group (Prefect's worker and its flow runs, say).
Its PID file `<pids>/<name>.pid` holds the PID on the first line and, on the second, a
JSON record of the command line and environment it was started with. The command line
tells our process from an unrelated one that inherited a recycled PID (its
/proc/PID/cmdline ends with it); the whole record tells a process started with older
settings, which `ensure_started` replaces.
"""

from __future__ import annotations

import atexit
import errno
import json
import os
import pwd
import shlex
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from sandbox.launch import LaunchSpec, Probe

__all__ = [
    "ComponentFailed",
    "ManagedProcess",
    "PidRecord",
    "PortInUse",
    "StackError",
    "StartResult",
    "group_members",
    "pid_file_path",
    "process_alive",
    "process_cmdline",
    "read_pid_file",
]

LOG_TAIL_LINES = 20
# A component's log past this size is moved aside (`<name>.log.1`, replacing the one
# before) when the component starts: a SQLite Prefect server under bursts logs a traceback
# per "database is locked" and filled 300 MB in an afternoon.
LOG_ROTATE_BYTES = 50 * 1024 * 1024
_LOG_HEADER = "=== paved: "
_POLL_SECONDS = 0.1
_KILL_WAIT_SECONDS = 5.0

# Popen objects of the processes this interpreter spawned, by PID. Holding them lets
# `stop` reap its own children (a zombie still answers signals and shows in /proc) and
# keeps Popen from warning that a child it forgot is still running.
_children: dict[int, subprocess.Popen[bytes]] = {}


class StackError(Exception):
    """The local stack could not be brought to the asked state."""


class PortInUse(StackError):
    """A component's port is held by a process that is not our healthy component."""

    def __init__(self, component: str, port: int, setting: str) -> None:
        self.component = component
        self.port = port
        self.setting = setting
        super().__init__(
            f"port {port} for {component} is already in use by another process; "
            f"set {setting} to a free port"
        )


class ComponentFailed(StackError):
    """A component would not start, or did not become healthy in time."""

    def __init__(
        self, component: str, reason: str, *, log_file: Path | None = None, log_tail: str = ""
    ) -> None:
        self.component = component
        self.reason = reason
        self.log_file = log_file
        self.log_tail = log_tail
        message = f"{component} failed to start: {reason}"
        if log_file is not None:
            message += f"\nlog: {log_file}"
        if log_tail:
            message += f"\n--- last lines of its log ---\n{log_tail}"
        super().__init__(message)


@dataclass(frozen=True)
class PidRecord:
    """What a PID file says: the process, and how and when it was started."""

    pid: int
    argv: tuple[str, ...] | None
    """None when the file holds only a PID (written by hand or by an older Paved)."""
    env: dict[str, str] | None
    started_at: float
    """When the PID file was written, right after the spawn (seconds since the epoch)."""


@dataclass(frozen=True)
class StartResult:
    """What `ensure_started` did."""

    pid: int
    started: bool
    """False when a healthy process with the same settings was already running."""
    seconds: float
    """From spawn to healthy; 0 when it was already running."""


def pid_file_path(pids_dir: Path, name: str) -> Path:
    return pids_dir / f"{name}.pid"


def read_pid_file(path: Path) -> PidRecord | None:
    """The record in `path`; None when the file is missing or does not start with a PID."""
    try:
        text = path.read_text()
        started_at = path.stat().st_mtime
    except FileNotFoundError:
        return None
    lines = text.splitlines()
    try:
        pid = int(lines[0].strip())
    except (IndexError, ValueError):
        return None
    argv: tuple[str, ...] | None = None
    env: dict[str, str] | None = None
    if len(lines) > 1:
        try:
            launch = json.loads(lines[1])
            argv = tuple(str(part) for part in launch["argv"])
            env = {str(key): str(value) for key, value in launch["env"].items()}
        except (ValueError, KeyError, TypeError, AttributeError):
            argv, env = None, None
    return PidRecord(pid=pid, argv=argv, env=env, started_at=started_at)


def _write_pid_file(path: Path, pid: int, spec: LaunchSpec) -> None:
    launch = json.dumps({"argv": list(spec.argv), "env": dict(spec.env)})
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(f"{pid}\n{launch}\n")
    os.replace(tmp, path)


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, process group) of `pid` from /proc, or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[0], int(fields[2])


def _reap(pid: int) -> None:
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        del _children[pid]


@atexit.register
def _reap_exited_children() -> None:
    # A child stopped by another process (or by a test) is a zombie until reaped; reap
    # it before interpreter shutdown so Popen does not report it as still running.
    for pid in list(_children):
        _reap(pid)


def process_alive(pid: int) -> bool:
    """True when `pid` is a running process (zombies count as gone)."""
    if pid <= 0:
        return False
    _reap(pid)
    stat = _proc_stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def process_cmdline(pid: int) -> tuple[str, ...]:
    """The command line of `pid`, empty when it is gone or a zombie."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return ()
    return tuple(part.decode(errors="surrogateescape") for part in raw.split(b"\0")[:-1])


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group `pgid`."""
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        stat = _proc_stat(int(entry.name))
        if stat is not None and stat[1] == pgid and stat[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def _runs(pid: int, argv: tuple[str, ...]) -> bool:
    # A script's shebang puts its interpreter in front: /proc shows `python3 moto_server ...`.
    cmdline = process_cmdline(pid)
    return bool(argv) and cmdline[-len(argv) :] == argv


def _rotate_if_large(log_file: Path) -> None:
    """Move `log_file` to `<name>.1` when it has grown past LOG_ROTATE_BYTES."""
    try:
        if log_file.stat().st_size > LOG_ROTATE_BYTES:
            log_file.replace(log_file.with_name(log_file.name + ".1"))
    except FileNotFoundError:
        pass


def _log_tail(log_file: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last `lines` lines the latest launch wrote to `log_file`."""
    try:
        with log_file.open("rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 64 * 1024))
            text = log.read().decode(errors="replace")
    except FileNotFoundError:
        return ""
    header = text.rfind(_LOG_HEADER)
    if header != -1:
        text = text[header:].split("\n", 1)[1] if "\n" in text[header:] else ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _primary_group(user: str | None) -> int | None:
    """The primary group of `user`; None (this process's group) when no user is named."""
    return None if user is None else pwd.getpwnam(user).pw_gid


def _describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name} during startup"
        except ValueError:
            return f"was killed by signal {-returncode} during startup"
    return f"exited with code {returncode} during startup"


class ManagedProcess:
    """One long-running component of the stack: its launch spec, PID file and log file."""

    def __init__(
        self, spec: LaunchSpec, *, pids_dir: Path, logs_dir: Path, port_setting: str | None
    ) -> None:
        self.spec = spec
        self.pid_file = pid_file_path(pids_dir, spec.name)
        self.log_file = logs_dir / f"{spec.name}.log"
        self.port_setting = port_setting
        """The environment variable that moves its port, named when the port is taken."""

    @property
    def name(self) -> str:
        return self.spec.name

    def find(self) -> tuple[PidRecord | None, str]:
        """Our live process according to the PID file, or None and why it is not running."""
        record = read_pid_file(self.pid_file)
        if record is None:
            if self.pid_file.exists():
                return None, f"not running (unreadable PID file {self.pid_file})"
            return None, "not running"
        if not process_alive(record.pid):
            return None, f"not running (stale PID file: process {record.pid} has exited)"
        if not _runs(record.pid, record.argv or self.spec.argv):
            return None, (
                f"not running (stale PID file: PID {record.pid} now belongs to another program)"
            )
        return record, ""

    def _is_current(self, record: PidRecord) -> bool:
        """Started with the command line and environment the settings now ask for."""
        if record.argv is None:
            return _runs(record.pid, self.spec.argv)
        return record.argv == self.spec.argv and record.env == dict(self.spec.env)

    def status(self) -> tuple[int | None, Probe]:
        """The PID of our process if it runs, and whether it is healthy."""
        record, why = self.find()
        if record is None:
            return None, Probe(False, why)
        if not self._is_current(record):
            return record.pid, Probe(
                False,
                f"process {record.pid} runs with older settings or code; `paved up` restarts it",
            )
        probe = self.spec.health()
        if not probe.healthy:
            return record.pid, Probe(
                False, f"process {record.pid} is running but not healthy: {probe.detail}"
            )
        return record.pid, probe

    def ensure_started(self) -> StartResult:
        """Leave a healthy, current process alone; otherwise (re)start it and wait until it
        is healthy. A process still starting (from another `paved up`) gets the rest of its
        startup time; one that is broken, stale or started with older settings is replaced.
        """
        record, _ = self.find()
        if record is not None and self._is_current(record):
            remaining = record.started_at + self.spec.startup_timeout - time.time()
            state, _ = self._await_health(record.pid, time.monotonic() + max(remaining, 0))
            if state == "healthy":
                return StartResult(pid=record.pid, started=False, seconds=0.0)
        self.stop()
        return self._spawn()

    def _check_port(self) -> None:
        if self.spec.port is None:
            return
        family, kind, proto, _, address = socket.getaddrinfo(
            self.spec.host, self.spec.port, type=socket.SOCK_STREAM
        )[0]
        with socket.socket(family, kind, proto) as probe:
            # Lets the bind ignore connections of a just-stopped server in TIME_WAIT; a
            # listening socket still refuses it.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise PortInUse(
                        self.name, self.spec.port, self.port_setting or "its port"
                    ) from exc
                raise ComponentFailed(
                    self.name, f"cannot listen on {self.spec.host}:{self.spec.port}: {exc}"
                ) from exc

    def _spawn(self) -> StartResult:
        self._check_port()
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        _rotate_if_large(self.log_file)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self.log_file.open("ab") as log:
            log.write(f"\n{_LOG_HEADER}{now} {shlex.join(self.spec.argv)}\n".encode())
            log.flush()
            try:
                child = subprocess.Popen(
                    self.spec.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, **self.spec.env},
                    cwd=self.spec.cwd,
                    user=self.spec.user,
                    group=_primary_group(self.spec.user),
                    # Not root's supplementary groups: only the user's own group.
                    extra_groups=None if self.spec.user is None else [],
                    # Its own session: Ctrl-C on `paved` does not reach it, it outlives
                    # `paved up`, and stop signals the whole group (see DESIGN.md on
                    # workers ignoring SIGTERM without job control).
                    start_new_session=True,
                )
            except OSError as exc:
                raise ComponentFailed(
                    self.name, f"cannot run {self.spec.argv[0]}: {exc.strerror or exc}"
                ) from exc
        _children[child.pid] = child
        began = time.monotonic()
        try:
            _write_pid_file(self.pid_file, child.pid, self.spec)
            state, detail = self._await_health(child.pid, began + self.spec.startup_timeout)
        except BaseException:
            # Interrupted (Ctrl-C) or the PID file could not be written: leave nothing behind.
            if not self.stop():
                self._terminate_group(child.pid)
            raise
        if state == "healthy":
            return StartResult(pid=child.pid, started=True, seconds=time.monotonic() - began)
        if state == "exited":
            reason = _describe_exit(child.wait())
        else:
            reason = f"not healthy {self.spec.startup_timeout:.0f} s after start: {detail}"
        tail = _log_tail(self.log_file)
        self.stop()
        raise ComponentFailed(self.name, reason, log_file=self.log_file, log_tail=tail)

    def _await_health(
        self, pid: int, deadline: float
    ) -> tuple[Literal["healthy", "exited", "timeout"], str]:
        while True:
            if not process_alive(pid):
                return "exited", ""
            probe = self.spec.health()
            if probe.healthy:
                return "healthy", ""
            if time.monotonic() >= deadline:
                return "timeout", probe.detail or "health check failed"
            time.sleep(_POLL_SECONDS)

    def stop(self) -> bool:
        """Stop our process and its whole group, then remove the PID file.

        True when something was stopped. A process that reused a stale PID is left alone.
        """
        record = read_pid_file(self.pid_file)
        stopped = False
        if record is not None:
            pid = record.pid
            if process_alive(pid):
                if _runs(pid, record.argv or self.spec.argv):
                    self._terminate_group(pid)
                    stopped = True
            elif group_members(pid):
                # The leader died but its children live on. Linux does not reuse a PID
                # while it names a process group, so they can only be ours.
                self._terminate_group(pid)
                stopped = True
        self.pid_file.unlink(missing_ok=True)
        return stopped

    def _terminate_group(self, pgid: int) -> None:
        for sig, wait in (
            (self.spec.stop_signal, self.spec.stop_timeout),
            (signal.SIGKILL, _KILL_WAIT_SECONDS),
        ):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                _reap(pgid)
                if not group_members(pgid):
                    return
                time.sleep(_POLL_SECONDS / 2)
        raise StackError(f"{self.name}: process group {pgid} survived SIGKILL")
