"""No Paved task carries Prefect tags.

Prefect asks the server for a concurrency slot on every run of a tagged task (one more
round trip per task run, even with no limit set; prefect.concurrency._sync.concurrency),
and a service:create runs about 60 tasks. Tags belong on flow runs (flows.engine.runtime.run_tags),
which tasks do not inherit. A tag that is a real concurrency limit is named here.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

from prefect import Task

ROOT = Path(__file__).resolve().parents[1]

# Task name -> tags that are real concurrency limits (none today).
CONCURRENCY_LIMIT_TAGS: dict[str, set[str]] = {}


def _tasks() -> list[Task[..., object]]:
    found: dict[int, Task[..., object]] = {}
    for package in ("flows", "tasks"):
        for info in pkgutil.walk_packages([str(ROOT / package)], prefix=f"{package}."):
            module = importlib.import_module(info.name)
            for value in vars(module).values():
                if isinstance(value, Task):
                    found[id(value)] = value
    return list(found.values())


def test_the_sweep_finds_tasks() -> None:
    assert len(_tasks()) > 30


def test_no_task_carries_tags() -> None:
    tagged = {
        task.name: set(task.tags) - CONCURRENCY_LIMIT_TAGS.get(task.name, set())
        for task in _tasks()
    }
    assert {name: tags for name, tags in tagged.items() if tags} == {}


def test_no_tags_context_around_tasks() -> None:
    # `with tags(...)` inside a flow would tag every task run under it.
    pattern = re.compile(r"from prefect(\.context)? import .*\btags\b|with (prefect\.)?tags\(")
    offenders = [
        str(path.relative_to(ROOT))
        for package in ("flows", "tasks")
        for path in (ROOT / package).rglob("*.py")
        if pattern.search(path.read_text())
    ]
    assert offenders == []
