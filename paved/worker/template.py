"""The template process's side of the warm worker: what it imports once, and what a child
forked from it does for one flow run.

The worker starts multiprocessing's fork server with `paved.worker.preload` preloaded. The fork
server is single-threaded (the worker itself has threads and an event loop and is never
forked); `preload` there imports Prefect's engine and the modules that
`PAVED_WARM_PRELOAD` names (the flows' entry modules and the SDKs they use), so every
child forked from it starts with them in `sys.modules`.

A child then does what `python -m prefect.engine` does for its flow run, in the run's
environment: see `run_flow_run`.
"""

from __future__ import annotations

import atexit
import importlib
import os
import runpy
import sys
import threading
import time
import traceback
import warnings

PRELOAD_VARIABLE = "PAVED_WARM_PRELOAD"
"""Comma-separated modules the template process imports (set by the worker)."""

FORKED_AT_VARIABLE = "PAVED_WARM_FORKED_AT"
"""Set in a child's environment: when (epoch seconds) it started, after its fork."""

WARMED_AT_VARIABLE = "PAVED_WARM_TEMPLATE_READY_AT"
"""Set in a child's environment: when the template it was forked from finished
importing. A flow run sees both and can tell it did not import Prefect itself."""

# Prefect's engine (what `python -m prefect.engine` imports before it runs a flow) and the
# pieces of Prefect a flow run touches on its way to the flow body.
_PREFECT_MODULES = (
    "prefect",
    "prefect.engine",
    "prefect.flow_engine",
    "prefect.task_engine",
    "prefect.flows",
    "prefect.deployments.steps",
    "prefect.logging.handlers",
    "prefect.client.orchestration",
    # The worker's own modules: a child re-runs the worker's main module (multiprocessing
    # prepares every child so), and should find its imports done.
    "prefect.workers.process",
    "paved.worker.warm",
)


def _preload() -> list[str]:
    """Import Prefect and the `PAVED_WARM_PRELOAD` modules; a module that fails to import
    is reported and skipped (its flow runs import it themselves, as a cold run would)."""
    wanted = [*_PREFECT_MODULES, *filter(None, os.environ.get(PRELOAD_VARIABLE, "").split(","))]
    loaded = []
    for name in wanted:
        try:
            importlib.import_module(name.strip())
        except Exception:  # a broken flow module must not stop the worker
            print(f"warm worker: could not preload {name}:", file=sys.stderr)
            traceback.print_exc()
        else:
            loaded.append(name)
    return loaded


READY_AT = 0.0
"""When the template finished its imports (0 in a process that is not the template)."""


def preload() -> None:
    """Make this process the template: import what flow runs need (`paved.worker.preload`
    calls this in the fork server)."""
    global READY_AT
    _preload()
    # Forking a process with other threads copies their locks in whatever state they
    # are in: the template must still be single-threaded after its imports.
    threads = threading.active_count()
    if threads != 1:
        print(f"warm worker: the template has {threads} threads after its imports", file=sys.stderr)
    READY_AT = time.time()


def ready() -> None:
    """A child that does nothing: the worker starts one to wait for the template."""


def run_flow_run(flow_run_id: str, environment: dict[str, str], cwd: str | None) -> None:
    """In a freshly forked child: run one flow run as `python -m prefect.engine` would.

    The run's environment replaces the template's before Prefect's settings are read
    again (Prefect computes its global settings context when `prefect.context` is
    imported, in the template, from the worker's environment); the engine module is
    then run as `__main__`, as `-m` runs it, and its exit code is this process's.
    """
    started_at = time.time()
    os.environ.clear()
    os.environ.update(environment)
    os.environ[FORKED_AT_VARIABLE] = repr(started_at)
    os.environ[WARMED_AT_VARIABLE] = repr(READY_AT)
    os.environ["PREFECT__FLOW_RUN_ID"] = flow_run_id
    if cwd:
        os.chdir(cwd)
    _refresh_prefect_settings()
    sys.argv = ["prefect.engine"]
    # runpy warns that the engine module is already imported: it is, in the template, and
    # its `__main__` block is what runs here.
    warnings.filterwarnings("ignore", "'prefect.engine' found in sys.modules", RuntimeWarning)
    try:
        runpy.run_module("prefect.engine", run_name="__main__", alter_sys=True)
    finally:
        # An exception (SystemExit with the engine's exit code among them) then leaves
        # through multiprocessing, which makes it the exit code as the interpreter would.
        # A termination signal the engine did not expect kills the process (the engine
        # re-sends it to itself), as it would kill `python -m prefect.engine`.
        _finish()


def _refresh_prefect_settings() -> None:
    from prefect.context import refresh_global_settings_context
    from prefect.logging.configuration import setup_logging

    refresh_global_settings_context()
    # Logging was configured from the template's settings: configure it from the run's.
    setup_logging(incremental=False)


def _finish() -> None:
    """What interpreter exit does for `python -m prefect.engine` and a forked child skips
    (it leaves through `os._exit`): send the buffered run logs, run the exit hooks."""
    try:
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all()
    except Exception:  # logs are best effort, the exit code is not
        traceback.print_exc()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
