"""Notifications: the notify task, failure notices of journaled runs, `paved up`'s
channels and `paved notifications`."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from prefect import flow
from prefect.blocks.core import Block
from prefect.client.orchestration import get_client
from typer.testing import CliRunner

from flows.engine.notify_failure import SENT, WITHOUT_CHANNEL, notify_people, notify_run_failure
from flows.engine.request import PavedRequest
from flows.engine.runtime import journaled
from paved.bootstrap import save_notification_blocks
from paved.cli import app
from paved.settings import Settings
from registry import queries
from registry.db import make_engine, session_scope
from registry.seed import load_seed
from tasks.errors import PermanentProviderError, TransientProviderError
from tasks.notify import notify, save_webhook_channel
from tests.flows.notify_helpers import Sink

pytestmark = pytest.mark.usefixtures("paved_blocks")

ACTION = "test:notify"


class Probe(PavedRequest):
    """A day-2 request that fails on purpose."""

    service: str
    fail_twice: bool = False


@flow(name="notify-probe")
def failing_probe(request: Probe) -> None:
    with journaled(action=ACTION, request=request, team="payments", service=request.service):
        raise RuntimeError("the provider said no")


@flow(name="notify-hook-twice")
def hook_twice(requester: str) -> list[dict[str, str]]:
    from prefect.runtime import flow_run

    error = RuntimeError("boom")
    kwargs: dict[str, Any] = {
        "action": ACTION,
        "flow_run_id": flow_run.id,
        "flow_run_name": flow_run.name,
        "requester": requester,
        "service": "orders",
        "error": error,
    }
    return [notify_run_failure(**kwargs), notify_run_failure(**kwargs)]


@flow(name="notify-send")
def send(channel: str) -> None:
    notify(channel, subject="hello", body="first line\nsecond line")


@pytest.fixture(autouse=True)
def orders(registry_url: str) -> None:
    """Service `orders` of payments: owner, change approver and on-call carol."""
    engine = make_engine(registry_url)
    with session_scope(engine) as session:
        queries.get_or_create_service(session, name="orders", team="payments", owner="carol")
    engine.dispose()


def test_a_failed_run_tells_the_requester_and_the_oncall_once_each(
    notify_channels: dict[str, str], sink: Sink
) -> None:
    state = failing_probe(request={"service": "orders", "requester": "dave"}, return_state=True)

    assert state.is_failed()
    with pytest.raises(RuntimeError, match="the provider said no"):  # not masked
        state.result()
    to_dave, to_carol = sink.wait_for("dave"), sink.wait_for("carol")
    assert len(sink.messages()) == 2
    body = to_dave["body"]["body"]
    with get_client(sync_client=True) as client:
        run_name = client.read_flow_run(state.state_details.flow_run_id).name
    assert to_dave["body"]["subject"] == f"Paved: {ACTION} failed ({run_name})"
    assert to_carol["body"] == to_dave["body"]
    assert f"Action {ACTION} failed." in body
    assert str(state.state_details.flow_run_id) in body
    assert f"/runs/flow-run/{state.state_details.flow_run_id}" in body  # the UI link
    assert "Error: RuntimeError: the provider said no" in body


def test_the_hook_running_again_sends_nothing_twice(
    notify_channels: dict[str, str], sink: Sink
) -> None:
    # carol is both requester and on-call: one person, one message.
    first, second = hook_twice("carol")

    assert first == {"carol": SENT} and second == {"carol": SENT}
    assert len(sink.messages("carol")) == 1


def test_a_person_without_channel_is_logged_and_a_dead_channel_never_masks_the_error(
    notify_channels: dict[str, str], sink: Sink, registry_url: str
) -> None:
    dead = save_webhook_channel(handle="carol", url="http://127.0.0.1:9/hooks/carol")
    engine = make_engine(registry_url)
    with session_scope(engine) as session:
        queries.set_notify_channel(session, handle="carol", channel=dead)
        queries.set_notify_channel(session, handle="dave", channel=None)
    engine.dispose()

    state = failing_probe(request={"service": "orders", "requester": "dave"}, return_state=True)

    assert state.is_failed()
    with pytest.raises(RuntimeError, match="the provider said no"):
        state.result()
    assert sink.messages() == []

    outcome = flow(name="notify-people")(
        lambda: notify_people(["dave", "erin", "nobody"], subject="s", body="b")
    )()
    assert outcome == {"dave": WITHOUT_CHANNEL, "erin": WITHOUT_CHANNEL, "nobody": WITHOUT_CHANNEL}


def test_the_notify_task_retries_5xx_and_fails_fast_on_4xx(sink: Sink) -> None:
    channel = save_webhook_channel(handle="carol", url=f"{sink.url}/hooks/carol")
    httpx.post(f"{sink.url}/_sink/faults", json={"status": 503, "times": 2}).raise_for_status()

    assert send(channel, return_state=True).is_completed()
    assert [m["body"]["subject"] for m in sink.messages("carol")] == ["hello"]

    httpx.post(f"{sink.url}/_sink/faults", json={"status": 403, "times": 2}).raise_for_status()
    refused = send(channel, return_state=True)

    assert refused.is_failed()
    with pytest.raises(PermanentProviderError, match="answered HTTP 403"):
        refused.result()
    assert len(sink.messages("carol")) == 1
    # The second 403 is still pending: the task did not retry a permanent failure.
    assert httpx.post(f"{sink.url}/hooks/carol", json={}).status_code == 403


def test_an_unknown_channel_is_a_permanent_error(prefect_api: None) -> None:
    state = send("custom-webhook/notify-nobody", return_state=True)

    with pytest.raises(PermanentProviderError, match="no such notification block"):
        state.result()
    assert issubclass(TransientProviderError, Exception)


def test_paved_up_gives_every_seeded_person_a_channel_and_the_cli_lists_messages(
    sink: Sink, registry_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = int(sink.url.rsplit(":", 1)[1])
    settings = Settings(notify_port=port, registry_url=registry_url)
    seed = load_seed(settings.seed_file)

    channels = save_notification_blocks(settings, seed)

    assert channels["carol"] == "custom-webhook/notify-carol"
    assert set(channels) == {"alice", "bob", "carol", "dave", "erin"}
    engine = make_engine(registry_url)
    with session_scope(engine) as session:
        assert queries.notify_channels(session, handles=["erin"]) == {
            "erin": "custom-webhook/notify-erin"
        }
    engine.dispose()
    block: Any = Block.load(channels["erin"])
    # The URL is a secret value; the plain field holds a placeholder.
    assert block.url == "{{webhook_url}}"
    assert block.secrets.get_secret_value() == {"webhook_url": f"{sink.url}/hooks/erin"}
    block.notify("Your access expires tomorrow.\nRenew it with access:grant.", "Expiry")

    monkeypatch.setenv("PAVED_NOTIFY_PORT", str(port))
    runner = CliRunner()
    listed = runner.invoke(app, ["notifications", "--to", "erin", "--json"])
    table = runner.invoke(app, ["notifications"], env={"COLUMNS": "200"})

    assert listed.exit_code == 0, listed.output
    (only,) = json.loads(listed.stdout)
    assert only["to"] == "erin" and only["subject"] == "Expiry"
    assert only["body"].startswith("Your access expires tomorrow.")
    assert table.exit_code == 0
    assert "Your access expires tomorrow." in table.stdout
    assert "Renew it" not in table.stdout  # the first line only


def test_the_cli_says_when_the_sink_is_down(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAVED_NOTIFY_PORT", "9")

    result = CliRunner().invoke(app, ["notifications"])

    assert result.exit_code == 1
    assert "did not answer" in result.stderr
