"""One retry policy for every provider task: retry transient failures, nothing else.

The decision looks at the exception class (tasks.errors), never at message text, so a
403 fails a run at once while a 502 or a dropped connection is retried with backoff.
"""

from __future__ import annotations

import os
from typing import Any

from prefect.client.schemas.objects import State, TaskRun

from tasks.errors import TransientProviderError

__all__ = ["PROVIDER_TASK_OPTIONS", "retry_delay_scale", "retry_delays", "retry_on_transient"]


def retry_on_transient(task: Any, task_run: TaskRun, state: State[Any]) -> bool:
    """Prefect `retry_condition_fn`: retry only when the task raised a TransientProviderError."""
    return isinstance(state.data, TransientProviderError)


def retry_delay_scale() -> float:
    """PAVED_RETRY_DELAY_SCALE: tests shrink every provider backoff with it (e.g. 0.1)."""
    return float(os.environ.get("PAVED_RETRY_DELAY_SCALE", "1"))


def retry_delays() -> list[float]:
    """Backoff between attempts, scaled by `retry_delay_scale`."""
    scale = retry_delay_scale()
    return [2.0 * scale, 5.0 * scale, 15.0 * scale]


# Keyword arguments shared by every provider task; `cache_policy=None` because provider
# calls have side effects and must run every time their task runs.
PROVIDER_TASK_OPTIONS: dict[str, Any] = {
    "retries": 3,
    "retry_delay_seconds": retry_delays(),
    "retry_jitter_factor": 0.2,
    "retry_condition_fn": retry_on_transient,
    "cache_policy": None,
}
