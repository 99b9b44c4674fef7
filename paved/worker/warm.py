"""A process worker whose flow runs start warm (issue 10).

Prefect's process worker starts every flow run as a new interpreter (a workspace
supervisor, then `python -m prefect.engine`), and each imports Prefect and the flow's
module again: seconds per run on a loaded machine, more than many flow bodies.
`WarmProcessWorker` is that worker (same `type`, so it serves the same process pool and
job template) but starts each run in a child forked from a template process that has
already imported them (`paved.worker.template`, through multiprocessing's fork server:
the worker, which has threads and an event loop, is never forked itself).

The rest is Prefect's: the run's process id is its infrastructure pid, the same
executor tracks the child (cancellation kills it; a nonzero exit or a signal marks the
run Crashed), and the child's output goes to the worker's, as a process worker's does.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.context
import os
import tempfile
import time
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
from prefect.flows import load_flow_from_flow_run
from prefect.logging import get_logger
from prefect.runner._flow_run_executor import FlowRunExecutionResult, FlowRunExecutorContext
from prefect.runner._process_manager import ProcessHandle
from prefect.settings import get_current_settings
from prefect.utilities.processutils import sanitize_subprocess_env
from prefect.workers.process import ProcessJobConfiguration, ProcessWorker, ProcessWorkerResult

from paved.worker import template

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun
    from prefect.runner._control_channel import ControlChannel

__all__ = ["ForkedEngineStarter", "WarmProcessWorker", "fork_server_context", "start_fork_server"]

# The SDKs Paved's tasks call: the bulk of a flow module's import time.
SDK_MODULES = ("boto3", "botocore.session", "github", "confluent_kafka", "sqlalchemy")

_EXIT_POLL_SECONDS = 0.1

_logger = get_logger("paved.warm_worker")


def fork_server_context(preload: Iterable[str]) -> multiprocessing.context.ForkServerContext:
    """multiprocessing's fork server, whose template process imports `preload` (through
    `paved.worker.preload`) before it forks any child.

    The template reads the list from its environment: it is started from this process's
    environment when the first child is started.
    """
    os.environ[template.PRELOAD_VARIABLE] = ",".join(preload)
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["paved.worker.preload"])
    return context


def start_fork_server(context: multiprocessing.context.ForkServerContext) -> float:
    """Start the template process and wait for its imports (seconds they took): a run
    forked before they finish would wait as long as a cold start.

    The fork server imports its preload before it accepts its first request, so a child
    that does nothing returns once the template is warm.
    """
    asked_at = time.monotonic()
    child = context.Process(target=template.ready, name="warm-template-probe")
    child.start()
    child.join()
    if child.exitcode != 0:
        raise RuntimeError(f"the warm template's first child exited with {child.exitcode}")
    return time.monotonic() - asked_at


class ForkedEngineStarter:
    """A Prefect process starter (the `ProcessStarter` protocol of Prefect's flow run
    executor) that forks the flow run's process from the template.

    The child's environment is built as Prefect's engine command starter builds a
    workspace run's: the worker's environment, its explicitly set Prefect settings, the
    job's environment over both, then the run's own variables.
    """

    def __init__(
        self,
        *,
        context: multiprocessing.context.ForkServerContext,
        cwd: Path | None,
        env: dict[str, str | None],
        control_channel: ControlChannel | None,
    ) -> None:
        self._context = context
        self._cwd = cwd
        self._env = env
        self._control_channel = control_channel

    async def start(
        self,
        flow_run: FlowRun,
        task_status: anyio.abc.TaskStatus[ProcessHandle] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        control_env = self._register_control(flow_run)
        environment = self._environment(flow_run, control_env)
        process = self._context.Process(
            target=template.run_flow_run,
            args=(str(flow_run.id), environment, str(self._cwd) if self._cwd else None),
            name=f"flow-run-{flow_run.id}",
        )
        asked_at = time.monotonic()
        try:
            # Start blocks on the fork server's socket (and starts the server first).
            await anyio.to_thread.run_sync(process.start)
        except BaseException:
            if control_env and self._control_channel is not None:
                self._control_channel.unregister(flow_run.id)
            raise
        # ProcessHandle reads pid and exitcode only, which a fork-server process has as a
        # spawned one does.
        _logger.info(
            "Flow run %s: process %s forked from the warm template in %.2f s",
            flow_run.id,
            process.pid,
            time.monotonic() - asked_at,
        )
        task_status.started(ProcessHandle(process))  # type: ignore[arg-type]
        # The child is the fork server's, not ours: its exit status comes through the
        # server's socket, which `exitcode` polls without blocking.
        while process.exitcode is None:
            await anyio.sleep(_EXIT_POLL_SECONDS)

    def _register_control(self, flow_run: FlowRun) -> dict[str, str]:
        """The control channel's port and token for the child (graceful cancellation);
        none when the channel is disabled, as Prefect's starter does."""
        if self._control_channel is None:
            return {}
        try:
            port, token = self._control_channel.register(flow_run.id)
        except RuntimeError:
            return {}
        return {"PREFECT__CONTROL_PORT": str(port), "PREFECT__CONTROL_TOKEN": token}

    def _environment(self, flow_run: FlowRun, control_env: dict[str, str]) -> dict[str, str]:
        settings_environment = get_current_settings().to_environment_variables(exclude_unset=True)
        env: dict[str, str | None] = {**os.environ, **settings_environment, **self._env}
        env.update(
            {
                "PREFECT__FLOW_RUN_ID": str(flow_run.id),
                "PREFECT__ENABLE_CANCELLATION_AND_CRASHED_HOOKS": "false",
                **control_env,
            }
        )
        # The child loads the flow from its deployment (pull steps, then the entrypoint),
        # as `python -m prefect.engine` does when no workspace supervisor prepared one.
        env.pop("PREFECT__FLOW_ENTRYPOINT", None)
        env.pop(template.PRELOAD_VARIABLE, None)
        return {key: value for key, value in sanitize_subprocess_env(env).items() if value}


# Prefect registers worker classes by type and warns when a second one takes a type: this
# one takes "process" on purpose, in the processes that import it (the warm worker's).
warnings.filterwarnings("ignore", "Type 'WarmProcessWorker'", UserWarning)


class WarmProcessWorker(ProcessWorker):
    """Prefect's process worker, with flow runs forked from a warm template process.

    A job template with its own `command` runs as the process worker runs it (a new
    process running that command): only the default engine command is started warm.
    """

    type = "process"

    def __init__(self, *args: Any, preload: Iterable[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fork_context = fork_server_context([*SDK_MODULES, *preload])

    def start_template(self) -> None:
        """Start the template process (and its imports) before the first flow run."""
        seconds = start_fork_server(self._fork_context)
        _logger.info("Warm template ready in %.1f s", seconds)

    async def run(
        self,
        flow_run: FlowRun,
        configuration: ProcessJobConfiguration,
        task_status: anyio.abc.TaskStatus[int] | None = None,
    ) -> ProcessWorkerResult:
        if configuration._command_configured:
            return await super().run(flow_run, configuration, task_status)
        if task_status is None:
            task_status = anyio.TASK_STATUS_IGNORED

        working_dir_ctx = (
            tempfile.TemporaryDirectory(suffix="prefect")
            if not configuration.working_dir
            else contextlib.nullcontext(configuration.working_dir)
        )
        execution: FlowRunExecutionResult | None = None
        with working_dir_ctx as working_dir, warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            async with FlowRunExecutorContext() as ctx:
                starter = ForkedEngineStarter(
                    context=self._fork_context,
                    cwd=Path(working_dir).resolve(),
                    env=configuration.env,
                    control_channel=ctx.control_channel,
                )
                executor = ctx.create_executor(
                    flow_run,
                    starter,
                    resolve_flow=load_flow_from_flow_run,
                    propose_submitting=False,
                )

                async def execute(
                    *, task_status: anyio.abc.TaskStatus[ProcessHandle] = anyio.TASK_STATUS_IGNORED
                ) -> None:
                    nonlocal execution
                    execution = await executor.submit(task_status=task_status)

                async with anyio.create_task_group() as task_group:
                    handle = await task_group.start(execute)
                    if handle.pid is None:
                        raise RuntimeError("Flow run process has no PID")
                    task_status.started(handle.pid)

        if execution is None or execution.status_code is None:
            raise RuntimeError("Failed to start flow run process.")
        return ProcessWorkerResult(
            status_code=execution.status_code, identifier=str(execution.handle.pid)
        )
