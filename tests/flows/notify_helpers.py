"""Fixtures and helpers for tests that read notifications: a webhook sink, each seeded
person's webhook channel pointing at it, and resuming a paused run with its code."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.flow_runs import resume_flow_run

from registry.db import make_engine, session_scope
from registry.queries import set_notify_channel
from sandbox.launch import webhook_sink
from tasks.notify import save_webhook_channel
from tests.conftest import free_port
from tests.servers import running

# payments' people: carol approves and is on call, dave asks; erin has no channel.
NOTIFIED = ("carol", "dave")
CODE = re.compile(r"one-time code: ([0-9a-f]+)")
RUN_ID = re.compile(r"Run: \S+ \(([0-9a-f-]{36})\)")


class Sink:
    """The test's webhook sink, through its HTTP control API."""

    def __init__(self, url: str) -> None:
        self.url = url

    def clear(self) -> None:
        httpx.delete(f"{self.url}/_sink/messages", timeout=5).raise_for_status()

    def messages(self, to: str | None = None) -> list[dict[str, Any]]:
        params = {"to": to} if to else {}
        response = httpx.get(f"{self.url}/_sink/messages", params=params, timeout=5)
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()
        return result

    def wait_for(self, to: str, *, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.messages(to)
            if found:
                return found[-1]
            time.sleep(0.05)
        raise AssertionError(f"no message to {to} within {timeout} s")


@pytest.fixture(scope="session")
def webhook_sink_url() -> Iterator[str]:
    port = free_port()
    with running(webhook_sink(host="127.0.0.1", port=port)):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def sink(webhook_sink_url: str) -> Sink:
    """The sink, emptied."""
    control = Sink(webhook_sink_url)
    control.clear()
    return control


@pytest.fixture
def notify_channels(prefect_api: None, registry_url: str, sink: Sink) -> dict[str, str]:
    """carol's and dave's webhook channels on the sink, saved and in the registry."""
    channels = {
        handle: save_webhook_channel(handle=handle, url=f"{sink.url}/hooks/{handle}")
        for handle in NOTIFIED
    }
    engine = make_engine(registry_url)
    with session_scope(engine) as session:
        for handle, channel in channels.items():
            set_notify_channel(session, handle=handle, channel=channel)
    engine.dispose()
    return channels


def in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Start `call` in a thread; the list receives its return value."""
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(call()), daemon=True)
    thread.start()
    return thread, out


def wait_until_paused(flow_run_id: str, *, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            state = client.read_flow_run(UUID(flow_run_id)).state
            if state is not None and state.is_paused():
                return
            time.sleep(0.05)
    raise AssertionError(f"flow run {flow_run_id} did not pause within {timeout} s")


def approve(
    sink: Sink, *, to: str = "carol", approver: str | None = None, code: str | None = None
) -> str:
    """Read the code sent to `to`, wait for the pause, resume with `approver` and `code`
    (default: `to` and the right code); returns the flow run id."""
    message = sink.wait_for(to)
    body = message["body"]["body"]
    right_code = CODE.search(body)
    run_id = RUN_ID.search(body)
    assert right_code and run_id, body
    wait_until_paused(run_id.group(1))
    resume_flow_run(
        UUID(run_id.group(1)),
        run_input={"approver": approver or to, "code": code or right_code.group(1)},
    )
    return run_id.group(1)
