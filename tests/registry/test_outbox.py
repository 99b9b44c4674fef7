"""The outbox: events written with the changes they describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from registry import queries
from registry.db import session_scope
from registry.models import OutboxEvent, Provider, ResourceStatus, ServiceStatus
from registry.outbox import ORPHAN_KEY, mark_published, unpublished_events
from registry.seed import SeedData, apply_seed


def _events(session: Session) -> list[OutboxEvent]:
    return list(session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)))


def _hello(session: Session) -> None:
    queries.get_or_create_service(session, name="hello", team="platform", owner="bob")


def test_status_ownership_and_resource_changes_are_events_with_versions(
    seeded: Session,
) -> None:
    _hello(seeded)
    queries.set_service_status(seeded, name="hello", status=ServiceStatus.ACTIVE)
    queries.set_ownership(seeded, service="hello", owner="alice", team="platform")
    queries.upsert_resource(
        seeded,
        service="hello",
        provider=Provider.GITHUB,
        kind="github_repository",
        name="acme/hello",
        status=ResourceStatus.PLANNED,
    )
    queries.upsert_resource(
        seeded,
        service="hello",
        provider=Provider.GITHUB,
        kind="github_repository",
        name="acme/hello",
        status=ResourceStatus.ACTIVE,
    )
    events = _events(seeded)
    assert [(e.service, e.version, e.event_type) for e in events] == [
        ("hello", 1, "service.status_changed"),
        ("hello", 2, "service.ownership_changed"),
        ("hello", 3, "resource.status_changed"),
        ("hello", 4, "resource.status_changed"),
    ]
    assert events[0].payload == {"status": "active", "previous_status": "provisioning"}
    assert events[1].payload["owner"] == "alice"
    assert events[1].payload["previous"]["owner"] == "bob"
    assert events[3].payload["previous_status"] == "planned"
    assert len({e.event_id for e in events}) == 4


def test_unchanged_state_writes_no_event(seeded: Session) -> None:
    _hello(seeded)
    queries.set_service_status(seeded, name="hello", status=ServiceStatus.PROVISIONING)
    queries.set_ownership(seeded, service="hello", owner="bob", team="platform")
    assert _events(seeded) == []


def test_orphan_resources_are_keyed_apart(seeded: Session) -> None:
    queries.upsert_resource(
        seeded,
        service=None,
        provider=Provider.AWS,
        kind="s3_bucket",
        name="lost",
        status=ResourceStatus.ACTIVE,
    )
    [event] = _events(seeded)
    assert (event.service, event.version) == (ORPHAN_KEY, 1)


def test_a_rolled_back_change_leaves_no_event(engine: Engine, seeded: Session) -> None:
    _hello(seeded)
    seeded.commit()
    try:
        with session_scope(engine) as session:
            queries.set_service_status(session, name="hello", status=ServiceStatus.FAILED)
            raise RuntimeError("the action failed after the write")
    except RuntimeError:
        pass
    with session_scope(engine) as session:
        assert _events(session) == []


def test_unpublished_events_come_in_order_until_marked(seeded: Session) -> None:
    _hello(seeded)
    for status in (ServiceStatus.ACTIVE, ServiceStatus.FAILED, ServiceStatus.ACTIVE):
        queries.set_service_status(seeded, name="hello", status=status)
    pending = unpublished_events(seeded)
    assert [e.version for e in pending] == [1, 2, 3]
    assert [e.version for e in unpublished_events(seeded, limit=2)] == [1, 2]
    assert mark_published(seeded, event_ids=[pending[0].event_id, pending[1].event_id]) == 2
    assert mark_published(seeded, event_ids=[pending[0].event_id]) == 0
    assert mark_published(seeded, event_ids=[]) == 0
    seeded.expire_all()
    assert [e.version for e in unpublished_events(seeded)] == [3]


def test_concurrent_changes_to_one_service_get_distinct_versions(
    engine: Engine, seed_data: SeedData
) -> None:
    with session_scope(engine) as session:
        apply_seed(session, seed=seed_data)
        _hello(session)
    runs = 6
    barrier = threading.Barrier(runs)
    errors: list[BaseException] = []
    sqlite = engine.dialect.name == "sqlite"

    def change(index: int) -> None:
        try:
            # SQLite transactions begin IMMEDIATE (writers queue at BEGIN): meet before
            # it; on PostgreSQL meet inside the transactions, so that they overlap.
            if sqlite:
                barrier.wait(timeout=30)
            with session_scope(engine) as session:
                queries.require_service(session, name="hello")
                if not sqlite:
                    barrier.wait(timeout=30)
                queries.upsert_resource(
                    session,
                    service="hello",
                    provider=Provider.AWS,
                    kind="s3_bucket",
                    name=f"bucket-{index}",
                    status=ResourceStatus.ACTIVE,
                )
        except BaseException as exc:  # reported below, with the thread's traceback
            errors.append(exc)

    threads = [threading.Thread(target=change, args=(index,)) for index in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with session_scope(engine) as session:
        assert sorted(event.version for event in _events(session)) == list(range(1, runs + 1))
