"""Listings, orphans and deactivating a person, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from registry import queries
from registry.answers import (
    NO_SERVICE,
    OWNER_DEACTIVATED,
    TEAM_LEAD_INACTIVE,
    TEAM_WITHOUT_LEAD,
)
from registry.errors import NotFound, PolicyViolation


@pytest.fixture
def world(seeded: Session) -> Session:
    """hello (platform, bob), orders (payments, carol, dave on call), a topic, a bucket
    of orders, and an orphan bucket."""
    queries.get_or_create_service(seeded, name="hello", team="platform", owner="bob")
    queries.get_or_create_service(
        seeded, name="orders", team="payments", owner="carol", oncall="dave"
    )
    queries.upsert_resource(
        seeded,
        service="hello",
        provider="kafka",
        kind="kafka_topic",
        name="hello.events.v1",
        status="active",
    )
    queries.upsert_resource(
        seeded,
        service="orders",
        provider="aws",
        kind="s3_bucket",
        name="acme-orders",
        status="planned",
    )
    queries.upsert_resource(
        seeded, service=None, provider="aws", kind="s3_bucket", name="acme-stray", status="active"
    )
    return seeded


def test_list_services_filters_by_team_and_owner(world: Session) -> None:
    everything = queries.list_services(world)
    assert [row.name for row in everything] == ["hello", "orders"]
    hello = everything[0]
    assert (hello.team, hello.team_lead, hello.owner, hello.owner_active) == (
        "platform",
        "alice",
        "bob",
        True,
    )
    assert (hello.change_approver, hello.oncall, hello.cost_watcher) == ("alice", "bob", "alice")
    assert [row.name for row in queries.list_services(world, team="payments")] == ["orders"]
    assert [row.name for row in queries.list_services(world, owner="BOB")] == ["hello"]
    assert queries.list_services(world, team="payments", owner="bob") == []
    assert queries.list_services(world, team="nobody") == []


def test_list_resources_filters(world: Session) -> None:
    assert [row.name for row in queries.list_resources(world)] == [
        "acme-orders",
        "acme-stray",
        "hello.events.v1",
    ]
    (bucket,) = queries.list_resources(world, team="payments")
    assert (bucket.service, bucket.team, bucket.owner, bucket.status) == (
        "orders",
        "payments",
        "carol",
        "planned",
    )
    assert [row.name for row in queries.list_resources(world, kind="s3_bucket")] == [
        "acme-orders",
        "acme-stray",
    ]
    assert [row.name for row in queries.list_resources(world, status="active")] == [
        "acme-stray",
        "hello.events.v1",
    ]
    assert [row.name for row in queries.list_resources(world, owner="bob")] == ["hello.events.v1"]
    assert [row.name for row in queries.list_resources(world, service="orders")] == ["acme-orders"]
    with pytest.raises(PolicyViolation, match="resource status 'gone'"):
        queries.list_resources(world, status="gone")


def test_orphans_with_their_reasons(world: Session) -> None:
    assert [(o.subject, o.name, o.reason) for o in queries.orphans(world)] == [
        ("resource", "acme-stray", NO_SERVICE)
    ]
    stray = queries.orphans(world)[0]
    assert (stray.provider, stray.resource_kind, stray.service, stray.owner) == (
        "aws",
        "s3_bucket",
        None,
        None,
    )
    queries.upsert_person(world, handle="bob", name="Bob Baker", email="b@x", active=False)
    queries.upsert_person(world, handle="carol", name="Carol Chen", email="c@x", active=False)
    found = {(o.name, o.reason): o for o in queries.orphans(world)}
    assert set(found) == {
        ("hello", OWNER_DEACTIVATED),
        # carol owns orders and leads payments: two reasons.
        ("orders", OWNER_DEACTIVATED),
        ("orders", TEAM_LEAD_INACTIVE),
        ("acme-stray", NO_SERVICE),
    }
    assert found["hello", OWNER_DEACTIVATED].resources == 1
    assert found["hello", OWNER_DEACTIVATED].owner == "bob"
    assert found["orders", TEAM_LEAD_INACTIVE].team == "payments"


def test_a_team_without_a_lead_orphans_its_services(world: Session) -> None:
    queries.upsert_team(
        world, slug="platform", name="Platform", lead=None, cost_center="cc-100", members=["bob"]
    )
    reasons = [(o.name, o.reason) for o in queries.orphans(world) if o.subject == "service"]
    assert reasons == [("hello", TEAM_WITHOUT_LEAD)]


def test_retired_things_are_not_orphans(world: Session) -> None:
    queries.upsert_resource(
        world, service=None, provider="aws", kind="s3_bucket", name="acme-stray", status="retired"
    )
    queries.upsert_person(world, handle="bob", name="Bob Baker", email="b@x", active=False)
    queries.set_service_status(world, name="hello", status="retired")
    assert queries.orphans(world) == []


def test_deactivate_lists_every_role_with_the_lead_suggested(world: Session) -> None:
    report = queries.deactivate_person(world, handle="dave", requester="alice")
    assert report.handle == "dave"
    assert report.was_active
    assert [(n.role, n.subject, n.team, n.suggested) for n in report.needs_new_person] == [
        ("oncall", "orders", "payments", "carol")
    ]
    dave = queries.require_person(world, handle="dave")
    assert not dave.active
    assert dave.deactivated_at == report.deactivated_at
    # Ownership does not move: dave is still on call until service:transfer.
    orders = queries.require_service(world, name="orders")
    assert orders.oncall is not None
    assert orders.oncall.handle == "dave"


def test_deactivating_a_lead_suggests_nobody(world: Session) -> None:
    report = queries.deactivate_person(world, handle="carol", requester="alice")
    assert [(n.role, n.subject, n.suggested) for n in report.needs_new_person] == [
        ("owner", "orders", None),
        ("change_approver", "orders", None),
        ("cost_watcher", "orders", None),
        ("team lead", "payments", None),
    ]


def test_deactivation_is_journaled(world: Session) -> None:
    report = queries.deactivate_person(
        world, handle="bob", requester="alice", journal_flow_run_id="run-1"
    )
    assert report.flow_run_id == "run-1"
    (entry,) = queries.journal_for_run(world, flow_run_id="run-1")
    assert (entry.action, entry.state, entry.requester, entry.team) == (
        "people:deactivate",
        "Completed",
        "alice",
        "platform",
    )
    assert entry.parameters == {
        "handle": "bob",
        "was_active": True,
        "needs": {"owner": ["hello"], "oncall": ["hello"]},
    }
    assert entry.ended_at is not None


def test_deactivating_twice_keeps_the_first_date(world: Session) -> None:
    first = queries.deactivate_person(world, handle="bob", requester="alice")
    second = queries.deactivate_person(world, handle="bob", requester="alice")
    assert not second.was_active
    assert second.deactivated_at == first.deactivated_at
    assert second.flow_run_id != first.flow_run_id


def test_deactivating_an_unknown_person(world: Session) -> None:
    with pytest.raises(NotFound, match="no person 'zed'"):
        queries.deactivate_person(world, handle="zed", requester="alice")
