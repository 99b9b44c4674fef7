"""Flows the warm worker test runs: one reports how its process started, one dies."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.settings import get_current_settings


@flow(name="warm-probe")
def warm_probe(out: str) -> None:
    """Write what tells a forked run from a fresh interpreter to `out`."""
    from paved.worker import template

    get_run_logger().info("warm probe running in process %s", os.getpid())
    report = {
        "pid": os.getpid(),
        "flow_started_at": time.time(),
        "forked_at": float(os.environ.get(template.FORKED_AT_VARIABLE, "0")),
        # Set by the template's preload only: 0 in any interpreter that started afresh.
        "template_ready_at": template.READY_AT,
        # The template imported this module by name; a fresh engine loads the file only.
        "module_preloaded": __name__ != "tests.stack.warm_probe_flow"
        and "tests.stack.warm_probe_flow" in sys.modules,
        # The job's environment, as the run sees it, and a Prefect setting read from it.
        "probe_variable": os.environ.get("PAVED_WARM_PROBE"),
        "task_default_retries": get_current_settings().tasks.default_retries,
        "cwd": os.getcwd(),
    }
    Path(out).write_text(json.dumps(report))


@flow(name="warm-crash")
def warm_crash() -> None:
    """Die as an out-of-memory kill would: the run must end Crashed, not hang Running."""
    os.kill(os.getpid(), signal.SIGKILL)
