"""`python -m paved.warm_worker --pool P --name N`: the warm process worker (issue 10).

Serves a process work pool as `prefect worker start --pool P --type process --name N`
does (same worker type, name and heartbeat, so the stack's health probe sees it), but
starts flow runs forked from a template process that has already imported Prefect and
the flows named in prefect.yaml (see `paved.worker.warm`). The stack starts it instead of
Prefect's worker when `PAVED_WARM_WORKER` is true.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Sequence
from pathlib import Path

import yaml

__all__ = ["flow_modules", "main"]


def flow_modules(project_file: Path) -> list[str]:
    """The modules of the deployments' entrypoints in `project_file` (prefect.yaml), as
    importable names: `flows/actions/x.py:flow` is `flows.actions.x`."""
    try:
        project = yaml.safe_load(project_file.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return []
    modules: list[str] = []
    for deployment in project.get("deployments") or []:
        entrypoint = str((deployment or {}).get("entrypoint") or "")
        path = entrypoint.partition(":")[0]
        if not path.endswith(".py"):
            continue
        module = path.removesuffix(".py").replace("/", ".")
        if module not in modules:
            modules.append(module)
    return modules


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m paved.warm_worker", description=__doc__)
    parser.add_argument("--pool", "-p", required=True, help="The process work pool to serve.")
    parser.add_argument("--name", "-n", default=None, help="The worker's name in Prefect.")
    parser.add_argument("--limit", "-l", type=int, default=None, help="Runs at once.")
    parser.add_argument(
        "--project-file",
        type=Path,
        default=Path("prefect.yaml"),
        help="prefect.yaml whose entrypoint modules the template imports.",
    )
    parser.add_argument(
        "--code-version",
        default="",
        help="The version of the code the template imports (set by `paved up`: a new "
        "version on the command line makes the stack restart this worker).",
    )
    return parser.parse_args(argv)


async def _serve(arguments: argparse.Namespace) -> None:
    from prefect.settings import PREFECT_WORKER_HEARTBEAT_SECONDS, PREFECT_WORKER_PREFETCH_SECONDS
    from prefect.utilities.processutils import setup_signal_handlers_worker

    from paved.worker.warm import WarmProcessWorker

    setup_signal_handlers_worker(os.getpid(), "the warm process worker", print)
    worker = WarmProcessWorker(
        work_pool_name=arguments.pool,
        name=arguments.name,
        limit=arguments.limit,
        prefetch_seconds=PREFECT_WORKER_PREFETCH_SECONDS.value(),
        heartbeat_interval_seconds=int(PREFECT_WORKER_HEARTBEAT_SECONDS.value()),
        preload=flow_modules(arguments.project_file),
    )
    # The template imports before the worker polls: the first run starts warm too.
    await asyncio.to_thread(worker.start_template)
    try:
        await worker.start(printer=print)
    except asyncio.CancelledError:
        print(f"Worker {worker.name!r} stopped!")


def main(argv: Sequence[str] | None = None) -> None:
    asyncio.run(_serve(_arguments(argv)))


if __name__ == "__main__":
    main()
