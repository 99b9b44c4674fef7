"""Secrets stay secret: a webhook URL is a secret value of its notification block, and no
logged or raised provider error carries a URL's credentials."""

from __future__ import annotations

import json
import logging
import traceback

import httpx
import pytest
from prefect import flow
from prefect.client.orchestration import get_client

from flows.engine.notify_failure import notify_run_failure
from registry import queries
from registry.db import make_engine, session_scope
from tasks.errors import PermanentProviderError, ProviderError
from tasks.logs import redact
from tasks.notify import notify, save_webhook_channel
from tests.flows.notify_helpers import Sink

PASSWORD = "hunter2pw"
TOKEN = "tok3nvalue"


@flow(name="notify-secret-probe")
def send(channel: str) -> None:
    notify(channel, subject="hello", body="a body")


def secret_url(sink: Sink) -> str:
    return sink.url.replace("http://", f"http://paved:{PASSWORD}@") + f"/hooks/carol?token={TOKEN}"


def test_the_webhook_url_is_a_secret_of_the_block_and_still_delivers(
    prefect_api: None, sink: Sink
) -> None:
    channel = save_webhook_channel(handle="carol", url=secret_url(sink))

    with get_client(sync_client=True) as client:
        document = client.read_block_document_by_name(
            name="notify-carol", block_type_slug="custom-webhook", include_secrets=False
        )
    plain = json.dumps(document.data, default=str)
    assert document.data["url"] == "{{webhook_url}}"
    assert PASSWORD not in plain and TOKEN not in plain and "/hooks/carol" not in plain

    assert send(channel, return_state=True).is_completed()
    assert [m["body"]["subject"] for m in sink.messages("carol")] == ["hello"]


def test_a_failed_delivery_never_logs_or_raises_the_url(
    prefect_api: None, sink: Sink, caplog: pytest.LogCaptureFixture
) -> None:
    channel = save_webhook_channel(handle="carol", url=secret_url(sink))
    httpx.post(f"{sink.url}/_sink/faults", json={"status": 403, "times": 1}).raise_for_status()

    with caplog.at_level(logging.DEBUG):
        state = send(channel, return_state=True)

    assert state.is_failed()
    with pytest.raises(PermanentProviderError, match="answered HTTP 403") as caught:
        state.result()
    shown = "".join(traceback.format_exception(caught.value)) + caplog.text
    for record in caplog.records:
        if record.exc_info:
            shown += "".join(traceback.format_exception(*record.exc_info))
    assert "answered HTTP 403" in shown
    assert PASSWORD not in shown and TOKEN not in shown


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "url 'https://bob:pw@hooks.example/x?token=abc&x=1'",
            "url 'https://***@hooks.example/x?token=***&x=1'",
        ),
        ("https://ghp_abc@github.com/acme/x.git", "https://***@github.com/acme/x.git"),
        (
            "s3?X-Amz-Signature=dead&X-Amz-Credential=AK&v=2",
            "s3?X-Amz-Signature=***&X-Amz-Credential=***&v=2",
        ),
        (
            "postgresql+psycopg://paved:pw@127.0.0.1/paved",
            "postgresql+psycopg://***@127.0.0.1/paved",
        ),
        (
            "mail carol@acme.example about https://example.com/a?page=2",
            "mail carol@acme.example about https://example.com/a?page=2",
        ),
    ],
)
def test_redact_removes_credentials_and_keeps_the_rest(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_every_provider_error_is_redacted() -> None:
    error = ProviderError(
        provider="github",
        operation="get repository",
        resource="https://x:pw@ghe.example/api/v3",
        cause="connection to https://x:pw@ghe.example/api/v3?access_token=abc failed",
    )
    assert "pw" not in str(error) and "abc" not in str(error)
    assert "https://***@ghe.example/api/v3?access_token=***" in str(error)


@flow(name="notify-failure-probe")
def failure_notice(error: str) -> dict[str, str]:
    from prefect.runtime import flow_run

    return notify_run_failure(
        action="test:notify",
        flow_run_id=flow_run.id,
        flow_run_name=flow_run.name,
        requester="dave",
        service="orders",
        error=RuntimeError(error),
    )


@pytest.mark.usefixtures("paved_blocks", "notify_channels")
def test_a_failure_notice_quotes_the_error_on_one_line_without_credentials(
    sink: Sink, registry_url: str
) -> None:
    with session_scope(make_engine(registry_url)) as session:
        queries.get_or_create_service(session, name="orders", team="payments", owner="carol")

    outcome = failure_notice(f"GET https://bot:{PASSWORD}@ghe.example/x?token={TOKEN}\nfailed")

    assert outcome == {"dave": "sent", "carol": "sent"}
    body = str(sink.wait_for("dave")["body"]["body"])
    assert "Error: RuntimeError: GET https://***@ghe.example/x?token=*** failed" in body
    assert PASSWORD not in body and TOKEN not in body
