"""Dependencies and access grants, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry import queries
from registry.errors import NotAuthorized, NotFound, PolicyViolation
from registry.models import Dependency, GrantStatus, utc_now
from registry.queries import DependencyInfo

TOPIC = ("kafka", "kafka_topic", "payments.orders.created")


@pytest.fixture
def services(seeded: Session) -> Session:
    """hello (platform) and orders (payments, with a topic)."""
    queries.get_or_create_service(seeded, name="hello", team="platform", owner="bob")
    queries.get_or_create_service(seeded, name="orders", team="payments", owner="carol")
    queries.upsert_resource(
        seeded,
        service="orders",
        provider=TOPIC[0],
        kind=TOPIC[1],
        name=TOPIC[2],
        status="active",
    )
    return seeded


# --- dependencies -------------------------------------------------------------------


def test_add_dependency_on_a_service_and_on_a_resource(services: Session) -> None:
    queries.add_dependency(services, service="hello", depends_on_service="orders")
    queries.add_dependency(
        services,
        service="hello",
        depends_on_resource=TOPIC,
        kind="consumes",
        description="reads new orders",
    )
    assert queries.dependencies_of(services, service="hello") == [
        DependencyInfo("hello", "uses", "", "orders", None),
        DependencyInfo("hello", "consumes", "reads new orders", None, TOPIC),
    ]
    assert queries.dependencies_of(services, service="orders") == []


def test_add_dependency_is_idempotent(services: Session) -> None:
    first = queries.add_dependency(services, service="hello", depends_on_service="orders")
    again = queries.add_dependency(
        services, service="hello", depends_on_service="orders", description="calls its API"
    )
    assert again.id == first.id and again.description == "calls its API"
    assert len(queries.dependencies_of(services, service="hello")) == 1


def test_the_same_target_with_another_kind_is_another_dependency(services: Session) -> None:
    queries.add_dependency(services, service="hello", depends_on_resource=TOPIC, kind="produces")
    queries.add_dependency(services, service="hello", depends_on_resource=TOPIC, kind="consumes")
    kinds = [d.kind for d in queries.dependencies_of(services, service="hello")]
    assert sorted(kinds) == ["consumes", "produces"]


def test_exactly_one_target(services: Session) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        queries.add_dependency(services, service="hello")
    with pytest.raises(ValueError, match="exactly one"):
        queries.add_dependency(
            services, service="hello", depends_on_service="orders", depends_on_resource=TOPIC
        )


def test_the_database_enforces_exactly_one_target(services: Session) -> None:
    hello = queries.require_service(services, name="hello")
    services.add(Dependency(service_id=hello.id, kind="uses"))
    with pytest.raises(IntegrityError):
        services.flush()


def test_dependency_targets_must_exist(services: Session) -> None:
    with pytest.raises(NotFound, match="no service 'nope'"):
        queries.add_dependency(services, service="hello", depends_on_service="nope")
    with pytest.raises(NotFound, match=r"no resource kafka/kafka_topic 'a\.b\.c'"):
        queries.add_dependency(
            services, service="hello", depends_on_resource=("kafka", "kafka_topic", "a.b.c")
        )
    with pytest.raises(PolicyViolation, match="cannot depend on itself"):
        queries.add_dependency(services, service="hello", depends_on_service="hello")


# --- access grants ------------------------------------------------------------------


def test_grant_and_revoke(services: Session) -> None:
    grant = queries.grant_access(
        services, person="dave", service="hello", permission="deploy", approver="alice"
    )
    assert grant.status == GrantStatus.ACTIVE and grant.revoked_at is None
    assert [g.person.handle for g in queries.find_grants(services, service="hello")] == ["dave"]

    revoked = queries.revoke_access(services, person="dave", service="hello", permission="deploy")
    assert [g.id for g in revoked] == [grant.id]
    assert revoked[0].status == GrantStatus.REVOKED and revoked[0].revoked_at is not None
    assert queries.find_grants(services, person="dave") == []
    assert len(queries.find_grants(services, person="dave", status=None)) == 1
    # Revoking again is harmless.
    assert (
        queries.revoke_access(services, person="dave", service="hello", permission="deploy") == []
    )


def test_grant_access_is_idempotent(services: Session) -> None:
    expires = utc_now() + timedelta(days=7)
    first = queries.grant_access(services, person="dave", resource=TOPIC, permission="read")
    again = queries.grant_access(
        services, person="dave", resource=TOPIC, permission="read", expires_at=expires
    )
    assert again.id == first.id and again.expires_at == expires
    assert len(queries.find_grants(services, person="dave")) == 1


def test_global_grants_and_grants_on_a_target_are_distinct(services: Session) -> None:
    queries.grant_access(services, person="bob", permission="aws:read-only")
    queries.grant_access(services, person="bob", service="hello", permission="aws:read-only")
    assert len(queries.find_grants(services, person="bob")) == 2
    queries.revoke_access(services, person="bob", permission="aws:read-only")
    remaining = queries.find_grants(services, person="bob")
    assert len(remaining) == 1 and remaining[0].service_id is not None


def test_grants_need_active_people_and_a_future_expiry(services: Session) -> None:
    queries.upsert_person(services, handle="erin", name="E", email="e@acme.example", active=False)
    with pytest.raises(NotAuthorized, match="grantee 'erin' is not active"):
        queries.grant_access(services, person="erin", service="hello", permission="deploy")
    with pytest.raises(NotAuthorized, match="approver 'erin' is not active"):
        queries.grant_access(
            services, person="dave", service="hello", permission="deploy", approver="erin"
        )
    with pytest.raises(PolicyViolation, match="in the past"):
        queries.grant_access(
            services,
            person="dave",
            service="hello",
            permission="deploy",
            expires_at=utc_now() - timedelta(minutes=1),
        )
    with pytest.raises(NotFound, match="no person 'zed'"):
        queries.grant_access(services, person="zed", service="hello", permission="deploy")


def test_expire_grants(services: Session) -> None:
    soon = utc_now() + timedelta(hours=1)
    queries.grant_access(
        services, person="dave", service="hello", permission="deploy", expires_at=soon
    )
    queries.grant_access(services, person="bob", service="hello", permission="deploy")
    assert queries.expire_grants(services) == []
    expired = queries.expire_grants(services, now=soon + timedelta(seconds=1))
    assert [g.status for g in expired] == [GrantStatus.EXPIRED]
    assert [g.person.handle for g in queries.find_grants(services, service="hello")] == ["bob"]


def test_due_grants_are_expired_one_by_one(services: Session) -> None:
    soon = utc_now() + timedelta(hours=1)
    for person in ("dave", "carol"):
        queries.grant_access(
            services, person=person, service="hello", permission="deploy", expires_at=soon
        )
    later = soon + timedelta(seconds=1)
    due = queries.due_grants(services, now=later)
    assert [(g.person.handle, g.service and g.service.team.slug) for g in due] == [
        ("dave", "platform"),
        ("carol", "platform"),
    ]
    # access:expire marks each grant once its provider access is gone, not all at once.
    expired = queries.expire_grants(services, now=later, grant_ids=[due[1].id])
    assert [g.person.handle for g in expired] == ["carol"]
    assert [g.person.handle for g in queries.due_grants(services, now=later)] == ["dave"]
