"""Real stand-ins on loopback ports: start, check, start again, stop, nothing left behind.

Prefect and its worker are left to the end-to-end test (they take seconds, not
fractions of one).
"""

from __future__ import annotations

import importlib.util

from paved.processes import group_members, pid_file_path, process_alive
from paved.settings import Settings
from paved.stack import stack_status, start_stack, stop_stack


def _fake_github_available() -> bool:
    try:
        return importlib.util.find_spec("sandbox.fake_github.__main__") is not None
    except ModuleNotFoundError:
        return False


def test_stand_ins_start_idempotently_and_stop_completely(settings: Settings) -> None:
    components = ["aws", "kafka", "notify"]
    if _fake_github_available():
        components.insert(0, "github")

    started = start_stack(settings, components=components).components

    expected_urls = {
        "github": settings.github_url,
        "aws": settings.aws_endpoint_url,
        "kafka": settings.kafka_bootstrap,
        "notify": settings.notify_url,
    }
    pids = {}
    for name in components:
        assert started[name].healthy, started[name].detail
        assert started[name].url == expected_urls[name]
        assert started[name].detail is None
        pid = started[name].pid
        assert pid is not None and process_alive(pid)
        assert pid_file_path(settings.pids_dir, name).is_file()
        assert (settings.logs_dir / f"{name}.log").is_file()
        pids[name] = pid
    assert not started["prefect"].healthy and not started["worker"].healthy

    again = start_stack(settings, components=components).components
    assert {name: again[name].pid for name in components} == pids

    stopped = stop_stack(settings)

    assert stopped == [name for name in ("notify", "kafka", "aws", "github") if name in components]
    for name, pid in pids.items():
        assert not process_alive(pid), name
        assert group_members(pid) == [], name
        assert not pid_file_path(settings.pids_dir, name).exists()
    after = stack_status(settings).components
    assert not any(after[name].healthy for name in components)
    assert stop_stack(settings) == []
