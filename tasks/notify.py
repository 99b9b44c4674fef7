"""Notification tasks: a message through a person's or team's Prefect notification block.

A channel is a saved notification block named `<block-type-slug>/<block-name>` (the
registry's `Person.notify_channel`), e.g. `custom-webhook/notify-carol` or
`slack-webhook/payments-oncall`: whatever Prefect's `prefect.blocks.notifications` offers
(Slack, Microsoft Teams, any webhook). The task loads the block and calls its
`notify(body, subject)`; an HTTP 5xx, a 429 or a dropped connection from the webhook is
transient and retried, anything else fails at once.

Bodies may carry one-time approval codes: they are never logged. A webhook URL is a
credential (whoever holds it posts as Paved, and whoever can change it reads the codes):
it is kept in the block's secrets, and a failed delivery never quotes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from prefect import task
from prefect.blocks.abstract import NotificationBlock, NotificationError
from prefect.blocks.core import Block
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.types import SecretDict

from tasks.errors import PermanentProviderError, ProviderError, TransientProviderError
from tasks.logs import redact, redact_logs_of, task_logger
from tasks.retries import PROVIDER_TASK_OPTIONS

__all__ = [
    "URL_SECRET",
    "load_channel",
    "notify",
    "notify_errors",
    "save_webhook_channel",
    "webhook_block",
]

PROVIDER = "notify"
_TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# The placeholder the block's `url` holds; the URL itself is the secret of that name.
URL_SECRET = "webhook_url"
# httpx logs every request with its full URL, the webhook's credentials included.
redact_logs_of("httpx", "httpcore")


def webhook_block(*, handle: str, url: str) -> CustomWebhookNotificationBlock:
    """A webhook channel for `handle` posting JSON {"subject", "body"} to `url`.

    `url` is stored as a secret value (the block's `secrets`, which Prefect encrypts and
    never returns without `include_secrets`); the plain `url` field holds only the
    placeholder `{{webhook_url}}`, filled in when a message is sent.

    The local stack points one at the webhook sink per person; production may point one
    at any JSON webhook (or save a SlackWebhook or MicrosoftTeamsWebhook instead).
    """
    return CustomWebhookNotificationBlock(
        name=f"notify-{handle}",
        url="{{" + URL_SECRET + "}}",
        secrets=SecretDict({URL_SECRET: url}),
        json_data={"subject": "{{subject}}", "body": "{{body}}"},
        headers=None,
        cookies=None,
    )


def save_webhook_channel(*, handle: str, url: str) -> str:
    """Save `webhook_block(handle, url)` as `notify-<handle>`; returns its channel name."""
    block = webhook_block(handle=handle, url=url)
    block.save(block.name, overwrite=True)
    return f"{block.get_block_type_slug()}/{block.name}"


@contextmanager
def notify_errors(channel: str) -> Iterator[None]:
    """Turn webhook failures into Transient or PermanentProviderError naming the channel."""
    try:
        yield
    except ProviderError:
        raise
    except httpx.HTTPStatusError as exc:
        status = exc.response.status_code
        error_class = (
            TransientProviderError
            if status in _TRANSIENT_STATUSES or status >= 500
            else PermanentProviderError
        )
        raise error_class(
            provider=PROVIDER,
            operation="send notification",
            resource=channel,
            cause=f"the webhook answered HTTP {status}",
        ) from None  # httpx's message quotes the URL, a secret
    except httpx.TransportError as exc:
        raise TransientProviderError(
            provider=PROVIDER,
            operation="send notification",
            resource=channel,
            cause=f"connection failed ({type(exc).__name__})",
        ) from None  # its message may quote the URL
    except NotificationError:
        # Apprise-based blocks (Slack, Teams) report no status: a failed delivery is
        # most often the service being briefly unreachable, so it is worth retrying.
        raise TransientProviderError(
            provider=PROVIDER,
            operation="send notification",
            resource=channel,
            cause="the notification service refused or did not answer",
        ) from None


def load_channel(channel: str) -> NotificationBlock:
    """The notification block saved as `channel` (`<block-type-slug>/<block-name>`)."""
    if channel.count("/") != 1 or not all(channel.split("/")):
        raise PermanentProviderError(
            provider=PROVIDER,
            operation="load channel",
            resource=channel,
            cause="a channel reads <block-type-slug>/<block-name>, "
            "e.g. custom-webhook/notify-carol",
        )
    try:
        block = Block.load(channel)
    except ValueError as exc:
        raise PermanentProviderError(
            provider=PROVIDER,
            operation="load channel",
            resource=channel,
            cause=f"no such notification block ({redact(exc)})",
        ) from exc
    if not isinstance(block, NotificationBlock):
        raise PermanentProviderError(
            provider=PROVIDER,
            operation="load channel",
            resource=channel,
            cause=f"block is a {type(block).__name__}, not a notification block",
        )
    return block


@task(name="notify: send", **PROVIDER_TASK_OPTIONS)
def notify(channel: str, *, subject: str, body: str) -> None:
    """Send `subject` and `body` through the notification block saved as `channel`."""
    block = load_channel(channel)
    with notify_errors(channel), block.raise_on_failure():
        # notify is sync-compatible: called from a sync task it returns None.
        block.notify(body, subject)  # type: ignore[unused-coroutine]
    # The subject only: bodies may hold one-time approval codes.
    task_logger().info("Sent %r to %s", subject, channel)
