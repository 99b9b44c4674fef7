"""CPU seconds each component of the running local stack spends while a command runs.

    .venv/bin/python -m tests.perf.cpu_split <command ...>

Issue 10's burst profile: where a burst's CPU goes (flow processes under the worker, the
Prefect server, PostgreSQL, the stand-ins). Per component: the user+system time of its
process and every descendant, live ones read from /proc and finished ones through the
reaped-children counters, before and after; plus the command's own children. Linux only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from paved.processes import pid_file_path, read_pid_file
from paved.settings import Settings
from paved.stack import COMPONENTS

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def children_by_parent() -> dict[int, list[int]]:
    """Every live process's children, from /proc, whatever process group each is in."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        fields = _stat(int(entry)) if entry.isdigit() else None
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def descendants(pid: int, children: dict[int, list[int]]) -> list[int]:
    """Every process below `pid` in `children` (children_by_parent)."""
    found: list[int] = []
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _tree_cpu(pid: int, children: dict[int, list[int]]) -> float:
    """utime+stime+cutime+cstime of `pid` and its live descendants, in seconds."""
    total = 0.0
    for member in (pid, *descendants(pid, children)):
        fields = _stat(member)
        if fields is not None:
            total += sum(int(value) for value in fields[11:15]) / _TICKS
    return total


def snapshot(settings: Settings) -> dict[str, float]:
    """CPU seconds so far of each running component of the stack."""
    children = children_by_parent()
    found: dict[str, float] = {}
    for name in COMPONENTS:
        record = read_pid_file(pid_file_path(settings.pids_dir, name))
        if record is not None:
            found[name] = _tree_cpu(record.pid, children)
    return found


def main() -> None:
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    settings = Settings()
    before, started, own = snapshot(settings), time.monotonic(), os.times()
    subprocess.run(sys.argv[1:], check=False)
    after, wall, done = snapshot(settings), time.monotonic() - started, os.times()
    print(f"wall {wall:.1f} s")
    spent = {name: after[name] - before.get(name, 0.0) for name in after}
    for name, seconds in sorted(spent.items(), key=lambda item: -item[1]):
        print(f"{name:18s} {seconds:8.1f} CPU-s")
    command = done.children_user + done.children_system - own.children_user - own.children_system
    print(f"{'the command':18s} {command:8.1f} CPU-s")


if __name__ == "__main__":
    main()
