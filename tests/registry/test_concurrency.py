"""Two runs creating the same thing at once converge instead of failing."""

from __future__ import annotations

import threading

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from registry import queries
from registry._support import add_unique
from registry.db import session_scope
from registry.models import Resource, ResourceStatus, Service
from registry.seed import SeedData, apply_seed


def test_losing_an_insert_race_returns_the_winners_row(engine: Engine, seed_data: SeedData) -> None:
    with session_scope(engine) as session:
        apply_seed(session, seed=seed_data)
        queries.get_or_create_service(session, name="hello", team="platform", owner="bob")
        queries.upsert_resource(
            session,
            service="hello",
            provider="aws",
            kind="s3_bucket",
            name="b1",
            status="planned",
        )
    # This run looked before the other committed, saw nothing, and now inserts.
    with session_scope(engine) as session:
        hello = queries.require_service(session, name="hello")
        loser = Resource(
            service=hello,
            provider="aws",
            kind="s3_bucket",
            name="b1",
            status=ResourceStatus.PLANNED,
        )
        winner = add_unique(
            session,
            loser,
            reload=lambda: queries.get_resource(
                session, provider="aws", kind="s3_bucket", name="b1"
            ),
        )
        assert winner is not loser and winner.id is not None
        # The transaction is still usable after the failed insert.
        queries.set_service_status(session, name="hello", status="active")
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Resource)) == 1
        assert session.scalar(select(Service.status)) == "active"


def test_concurrent_runs_of_the_same_request_converge(engine: Engine, seed_data: SeedData) -> None:
    with session_scope(engine) as session:
        apply_seed(session, seed=seed_data)
    runs = 6
    barrier = threading.Barrier(runs)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(timeout=30)
            with session_scope(engine) as session:
                queries.get_or_create_service(session, name="hello", team="platform", owner="bob")
                queries.upsert_resource(
                    session,
                    service="hello",
                    provider="github",
                    kind="github_repository",
                    name="acme/hello",
                    status="provisioning",
                )
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Service)) == 1
        assert session.scalar(select(func.count()).select_from(Resource)) == 1
