"""The logger every task writes to."""

from __future__ import annotations

import logging
from typing import Any

from prefect import get_run_logger
from prefect.exceptions import MissingContextError

__all__ = ["task_logger"]


def task_logger() -> logging.Logger | logging.LoggerAdapter[Any]:
    """The run logger inside a Prefect run (so lines show in the UI); the `paved.tasks`
    logger when a task's function is called directly (scripts, benchmarks, `task.fn`)."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("paved.tasks")
