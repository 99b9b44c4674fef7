"""Claims: one in-flight run at a time may make a given thing.

`claim(session, key="service:orders", holder=<flow run id>, action=...)` succeeds for
the first run and for the same run again (a retry); a second run gets Conflict naming
the holder. A claim is released when its run ends, and one left behind by a crashed run
expires, or is taken over once the holder's run has journaled its end.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from registry._support import add_unique
from registry.errors import Conflict
from registry.models import ActionClaim, JournalEntry, utc_now

__all__ = ["DEFAULT_CLAIM_TTL", "claim", "release"]

DEFAULT_CLAIM_TTL = timedelta(hours=2)
_FINAL_STATES = ("Completed", "Failed", "Crashed", "Cancelled", "Rejected")


def _holder_has_ended(session: Session, holder: str) -> bool:
    ended = select(JournalEntry.id).where(
        JournalEntry.flow_run_id == holder, JournalEntry.state.in_(_FINAL_STATES)
    )
    return session.scalar(ended.limit(1)) is not None


def claim(
    session: Session,
    *,
    key: str,
    holder: str,
    action: str,
    ttl: timedelta = DEFAULT_CLAIM_TTL,
    now: datetime | None = None,
) -> ActionClaim:
    """Claim `key` for run `holder`; Conflict when another run in flight holds it."""
    now = now or utc_now()
    row = ActionClaim(key=key, holder=holder, action=action, claimed_at=now, expires_at=now + ttl)
    current = add_unique(
        session,
        row,
        reload=lambda: session.scalar(select(ActionClaim).where(ActionClaim.key == key)),
    )
    if current.holder == holder:
        return current
    if current.expires_at > now and not _holder_has_ended(session, current.holder):
        raise Conflict(
            f"{key} is being worked on by another run ({current.action}, flow run "
            f"{current.holder}, since {current.claimed_at:%Y-%m-%d %H:%M:%S} UTC); "
            "wait for it to end, then re-run"
        )
    # Take over a stale claim. The WHERE on the old holder makes this a compare-and-set:
    # of two runs taking over at once, exactly one updates the row.
    taken = session.execute(
        update(ActionClaim)
        .where(ActionClaim.key == key, ActionClaim.holder == current.holder)
        .values(holder=holder, action=action, claimed_at=now, expires_at=now + ttl)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(f"{key} was claimed by another run at the same moment; re-run later")
    session.expire(current)
    return current


def release(session: Session, *, key: str, holder: str) -> bool:
    """Release `key` if `holder` holds it; True when it did."""
    result = session.execute(
        delete(ActionClaim).where(ActionClaim.key == key, ActionClaim.holder == holder)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
