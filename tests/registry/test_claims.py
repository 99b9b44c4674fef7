"""Claims decide which of two runs may make the same thing, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from registry import queries
from registry.db import session_scope
from registry.errors import Conflict

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
KEY = "service:orders"


def test_first_run_wins_and_the_second_gets_a_conflict_naming_the_first(engine: Engine) -> None:
    with session_scope(engine) as session:
        queries.claim(session, key=KEY, holder="run-1", action="service:create", now=T0)
    with session_scope(engine) as session, pytest.raises(Conflict, match="run-1"):
        queries.claim(session, key=KEY, holder="run-2", action="service:create", now=T0)


def test_the_same_run_may_claim_again(engine: Engine) -> None:
    for _ in range(2):
        with session_scope(engine) as session:
            held = queries.claim(session, key=KEY, holder="run-1", action="service:create", now=T0)
            assert (held.key, held.holder) == (KEY, "run-1")
    # The retry kept the one claim in run-1's hands: another run is still refused.
    with session_scope(engine) as session, pytest.raises(Conflict, match="flow run run-1"):
        queries.claim(session, key=KEY, holder="run-2", action="service:create", now=T0)


def test_released_claim_is_free(engine: Engine) -> None:
    with session_scope(engine) as session:
        queries.claim(session, key=KEY, holder="run-1", action="service:create", now=T0)
    with session_scope(engine) as session:
        assert not queries.release(session, key=KEY, holder="run-2")
        assert queries.release(session, key=KEY, holder="run-1")
    with session_scope(engine) as session:
        queries.claim(session, key=KEY, holder="run-2", action="service:create", now=T0)


def test_expired_claim_of_a_crashed_run_is_taken_over(engine: Engine) -> None:
    with session_scope(engine) as session:
        queries.claim(
            session,
            key=KEY,
            holder="run-1",
            action="service:create",
            now=T0,
            ttl=timedelta(minutes=5),
        )
    later = T0 + timedelta(minutes=6)
    with session_scope(engine) as session:
        taken = queries.claim(session, key=KEY, holder="run-2", action="service:create", now=later)
        assert taken.holder == "run-2"


def test_claim_of_a_run_that_journaled_its_end_is_taken_over(engine: Engine) -> None:
    with session_scope(engine) as session:
        queries.claim(session, key=KEY, holder="run-1", action="service:create", now=T0)
        queries.append_journal(
            session,
            flow_run_id="run-1",
            action="service:create",
            requester="dave",
            team="payments",
            service="orders",
            parameters={},
            state="Failed",
            started_at=T0,
            ended_at=T0,
        )
    with session_scope(engine) as session:
        assert (
            queries.claim(session, key=KEY, holder="run-2", action="service:create", now=T0).holder
            == "run-2"
        )


def test_concurrent_claims_have_exactly_one_winner(engine: Engine) -> None:
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def contend(holder: str) -> None:
        barrier.wait()
        try:
            with session_scope(engine) as session:
                queries.claim(session, key=KEY, holder=holder, action="service:create")
            outcomes.append("won")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=contend, args=(f"run-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "won"]
