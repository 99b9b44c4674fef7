"""Where each person is notified: the Prefect notification block named on their row.

``Person.notify_channel`` holds ``<block-type-slug>/<block-name>`` of a saved notification
block (Slack, Teams, a webhook), so ``Block.load(channel)`` finds it.

Query functions take the session first and keyword arguments after it, flush what they
write and never commit: the caller's ``session_scope`` decides.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry._support import normalize_handle, require_text
from registry.errors import PolicyViolation
from registry.models import Person
from registry.people import require_person

__all__ = ["notify_channels", "set_notify_channel"]

_CHANNEL_MAX = 200


def set_notify_channel(session: Session, *, handle: str, channel: str | None) -> Person:
    """Point ``handle``'s notifications at the block ``channel`` (None: no channel)."""
    person = require_person(session, handle=handle)
    if channel is not None:
        require_text(channel, what=f"notify channel of {person.handle!r}", max_length=_CHANNEL_MAX)
        slug, _, name = channel.partition("/")
        if not slug or not name or "/" in name:
            raise PolicyViolation(
                f"notify channel {channel!r} must read <block-type-slug>/<block-name>, "
                "e.g. custom-webhook/notify-carol"
            )
    person.notify_channel = channel
    session.flush()
    return person


def notify_channels(session: Session, *, handles: Iterable[str]) -> dict[str, str | None]:
    """The channel of each known handle (None when they have none); unknown handles are
    left out. Keys are the normalized handles."""
    wanted = {normalize_handle(handle) for handle in handles}
    if not wanted:
        return {}
    rows = session.execute(
        select(Person.handle, Person.notify_channel).where(Person.handle.in_(wanted))
    ).all()
    return {handle: channel for handle, channel in rows}
