"""A worker (re)started by `paved up` / `paved start worker` marks Crashed the runs its
predecessor left Pending or Running, which would otherwise hold their deployment's
concurrency slot for good; runs that changed state after it started are left alone."""

from __future__ import annotations

import os
import time
from pathlib import Path
from urllib.parse import urlsplit
from uuid import UUID

from prefect import flow
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.settings import PREFECT_API_URL
from prefect.states import Pending, Running

from paved.settings import Settings
from paved.stack import ORPHANED_MESSAGE, crash_orphaned_runs

POOL = "orphans-test-pool"


@flow(name="orphan-test")
def _noop() -> None:
    """Never run: only its deployment's runs are."""


def _run_in_pool() -> str:
    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name(_noop.name)
        deployment = client.create_deployment(
            flow_id=flow_id, name="orphans", work_pool_name=POOL, entrypoint="x.py:f"
        )
        run = client.create_flow_run_from_deployment(deployment)
        return str(run.id)


def _state(client: SyncPrefectClient, run_id: str) -> str:
    state = client.read_flow_run(UUID(run_id)).state
    return state.name if state is not None else "none"


def test_runs_left_by_the_previous_worker_are_crashed(prefect_api: None, tmp_path: Path) -> None:
    api = urlsplit(str(PREFECT_API_URL.value()))
    assert api.hostname and api.port
    settings = Settings(home=tmp_path, host=api.hostname, prefect_port=api.port, work_pool=POOL)
    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name=POOL, type="process"), overwrite=True)
        left_running, left_pending = _run_in_pool(), _run_in_pool()
        client.set_flow_run_state(UUID(left_running), Running(), force=True)
        client.set_flow_run_state(UUID(left_pending), Pending(), force=True)

        time.sleep(0.05)
        settings.pids_dir.mkdir(parents=True)
        (settings.pids_dir / "worker.pid").write_text(f"{os.getpid()}\n")
        time.sleep(0.05)
        picked_up_by_new_worker = _run_in_pool()
        client.set_flow_run_state(UUID(picked_up_by_new_worker), Running(), force=True)

        assert crash_orphaned_runs(settings) == 2

        assert _state(client, left_running) == "Crashed"
        assert _state(client, left_pending) == "Crashed"
        assert _state(client, picked_up_by_new_worker) == "Running"
        run = client.read_flow_run(UUID(left_running))
        assert run.state is not None and run.state.message == ORPHANED_MESSAGE
