"""Services and resources, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.orm import Session

from registry import queries
from registry.db import session_scope
from registry.errors import Conflict, NotAuthorized, NotFound, PolicyViolation
from registry.models import Lifecycle, Provider, Resource, ResourceStatus, ServiceStatus
from registry.seed import SeedData, apply_seed

REPO: dict[str, Any] = {
    "provider": Provider.GITHUB,
    "kind": "github_repository",
    "name": "acme/hello",
}


def _hello(session: Session, **overrides: str) -> None:
    queries.get_or_create_service(
        session, **{"name": "hello", "team": "platform", "owner": "bob", **overrides}
    )


# --- services -----------------------------------------------------------------------


def test_a_new_service_is_provisioning_with_default_people(seeded: Session) -> None:
    service = queries.get_or_create_service(
        seeded, name="hello", team="platform", owner="bob", description="Says hello"
    )
    assert service.status == ServiceStatus.PROVISIONING
    assert service.lifecycle == Lifecycle.EXPERIMENTAL
    assert service.description == "Says hello"
    assert service.team.slug == "platform"
    assert service.owner.handle == "bob"
    assert service.change_approver is not None and service.change_approver.handle == "alice"
    assert service.oncall is not None and service.oncall.handle == "bob"
    assert service.cost_watcher is not None and service.cost_watcher.handle == "alice"


def test_explicit_people_override_the_defaults(seeded: Session) -> None:
    service = queries.get_or_create_service(
        seeded,
        name="hello",
        team="platform",
        owner="bob",
        change_approver="bob",
        oncall="alice",
        cost_watcher="bob",
        lifecycle="production",
    )
    assert service.change_approver is not None and service.change_approver.handle == "bob"
    assert service.oncall is not None and service.oncall.handle == "alice"
    assert service.cost_watcher is not None and service.cost_watcher.handle == "bob"
    assert service.lifecycle == Lifecycle.PRODUCTION


def test_get_or_create_returns_the_existing_service_unchanged(seeded: Session) -> None:
    first = queries.get_or_create_service(seeded, name="hello", team="platform", owner="bob")
    again = queries.get_or_create_service(seeded, name="hello", team="platform", owner="alice")
    assert again.id == first.id and again.owner.handle == "bob"


def test_a_service_of_another_team_is_a_conflict(seeded: Session) -> None:
    queries.get_or_create_service(seeded, name="hello", team="payments", owner="carol")
    with pytest.raises(Conflict, match="service 'hello' already belongs to team 'payments'"):
        _hello(seeded)


def test_service_names_follow_the_policy(seeded: Session) -> None:
    with pytest.raises(PolicyViolation, match="service name 'Hello'"):
        _hello(seeded, name="Hello")


def test_service_people_must_exist_and_be_active(seeded: Session) -> None:
    with pytest.raises(NotFound, match="no person 'zed'"):
        _hello(seeded, owner="zed")
    queries.upsert_person(seeded, handle="erin", name="Erin", email="e@acme.example", active=False)
    with pytest.raises(NotAuthorized, match="oncall 'erin' is not active"):
        _hello(seeded, oncall="erin")


def test_unknown_team(seeded: Session) -> None:
    with pytest.raises(NotFound, match="no team 'growth'"):
        _hello(seeded, team="growth")


def test_an_inactive_lead_hands_approval_to_the_owner(seeded: Session) -> None:
    queries.upsert_person(seeded, handle="alice", name="A", email="a@acme.example", active=False)
    service = queries.get_or_create_service(seeded, name="hello", team="platform", owner="bob")
    assert service.change_approver is not None and service.change_approver.handle == "bob"


def test_relationships_never_load_behind_the_callers_back(
    engine: Engine, seed_data: SeedData
) -> None:
    with session_scope(engine) as session:
        apply_seed(session, seed=seed_data)
        _hello(session)
    with session_scope(engine) as session:
        team = queries.require_team(session, slug="platform")
        with pytest.raises(InvalidRequestError, match="lazy='raise'"):
            _ = team.memberships


def test_get_and_require_service(seeded: Session) -> None:
    _hello(seeded)
    service = queries.require_service(seeded, name="hello")
    assert service.team.lead is not None and service.team.lead.handle == "alice"
    assert queries.get_service(seeded, name="nope") is None
    with pytest.raises(NotFound, match="no service 'nope'"):
        queries.require_service(seeded, name="nope")


def test_set_service_status(seeded: Session) -> None:
    _hello(seeded)
    assert queries.set_service_status(seeded, name="hello", status="active").status == (
        ServiceStatus.ACTIVE
    )
    with pytest.raises(PolicyViolation, match="service status 'done' is not one of"):
        queries.set_service_status(seeded, name="hello", status="done")
    with pytest.raises(NotFound):
        queries.set_service_status(seeded, name="nope", status=ServiceStatus.FAILED)


def test_set_ownership_writes_every_role(seeded: Session) -> None:
    _hello(seeded)
    service = queries.set_ownership(
        seeded,
        service="hello",
        owner="alice",
        team="platform",
        change_approver="bob",
        oncall="bob",
        cost_watcher="alice",
    )
    assert service.owner.handle == "alice"
    assert service.change_approver is not None and service.change_approver.handle == "bob"
    assert service.oncall is not None and service.oncall.handle == "bob"
    reread = queries.require_service(seeded, name="hello")
    assert reread.owner.handle == "alice"


def test_set_ownership_can_move_a_service_to_another_team(seeded: Session) -> None:
    _hello(seeded)
    service = queries.set_ownership(seeded, service="hello", owner="carol", team="payments")
    assert service.team.slug == "payments"
    assert service.change_approver is not None and service.change_approver.handle == "carol"


def test_set_ownership_validates_every_person(seeded: Session) -> None:
    _hello(seeded)
    queries.upsert_person(seeded, handle="dave", name="D", email="d@acme.example", active=False)
    with pytest.raises(NotAuthorized, match="cost_watcher 'dave' is not active"):
        queries.set_ownership(
            seeded,
            service="hello",
            owner="bob",
            team="platform",
            change_approver="alice",
            oncall="bob",
            cost_watcher="dave",
        )
    with pytest.raises(NotFound, match="no person 'zed'"):
        queries.set_ownership(
            seeded,
            service="hello",
            owner="bob",
            team="platform",
            change_approver="zed",
            oncall="bob",
            cost_watcher="alice",
        )
    with pytest.raises(NotFound, match="no service 'nope'"):
        queries.set_ownership(seeded, service="nope", owner="bob", team="platform")


# --- resources ----------------------------------------------------------------------


def test_upsert_resource_creates_and_then_updates_on_the_natural_key(seeded: Session) -> None:
    _hello(seeded)
    planned = queries.upsert_resource(
        seeded,
        service="hello",
        **REPO,
        spec={"private": True},
        tags={"paved:team": "platform"},
        status=ResourceStatus.PLANNED,
    )
    assert planned.external_id is None and planned.status == ResourceStatus.PLANNED
    active = queries.upsert_resource(
        seeded,
        service="hello",
        **REPO,
        external_id="acme/hello",
        url="http://127.0.0.1:15480/acme/hello",
        status="active",
    )
    assert active.id == planned.id
    assert active.external_id == "acme/hello"
    assert active.spec == {"private": True}  # not given: kept
    assert active.tags == {"paved:team": "platform"}
    assert active.status == ResourceStatus.ACTIVE


def test_a_status_update_keeps_the_external_id_and_writes_the_error(seeded: Session) -> None:
    _hello(seeded)
    queries.upsert_resource(
        seeded, service="hello", **REPO, external_id="acme/hello", status="provisioning"
    )
    failed = queries.upsert_resource(
        seeded, service=None, **REPO, status=ResourceStatus.FAILED, error="GitHub said 502"
    )
    assert failed.external_id == "acme/hello" and failed.error == "GitHub said 502"
    assert failed.service is not None and failed.service.name == "hello"
    healed = queries.upsert_resource(seeded, service="hello", **REPO, status="active")
    assert healed.error is None


def test_an_orphan_resource_is_adopted_by_the_first_service_to_claim_it(seeded: Session) -> None:
    orphan = queries.upsert_resource(
        seeded,
        service=None,
        provider="aws",
        kind="s3_bucket",
        name="old-logs",
        external_id="arn:aws:s3:::old-logs",
        status="active",
    )
    assert orphan.service is None
    _hello(seeded)
    adopted = queries.upsert_resource(
        seeded,
        service="hello",
        provider="aws",
        kind="s3_bucket",
        name="old-logs",
        status="active",
    )
    assert adopted.service is not None and adopted.service.name == "hello"


def test_claiming_another_services_resource_is_a_conflict(seeded: Session) -> None:
    _hello(seeded)
    queries.get_or_create_service(seeded, name="orders", team="payments", owner="carol")
    queries.upsert_resource(seeded, service="hello", **REPO, status="active")
    with pytest.raises(Conflict, match="already belongs to service 'hello', not 'orders'"):
        queries.upsert_resource(seeded, service="orders", **REPO, status="active")


def test_upsert_resource_validates_its_inputs(seeded: Session) -> None:
    with pytest.raises(PolicyViolation, match="provider 'gitlab' is not one of: github, aws"):
        queries.upsert_resource(
            seeded, service=None, provider="gitlab", kind="repo", name="x", status="active"
        )
    with pytest.raises(PolicyViolation, match="resource status 'gone'"):
        queries.upsert_resource(seeded, service=None, **REPO, status="gone")
    with pytest.raises(NotFound, match="no service 'nope'"):
        queries.upsert_resource(seeded, service="nope", **REPO, status="active")


def test_get_resource(seeded: Session) -> None:
    _hello(seeded)
    queries.upsert_resource(seeded, service="hello", **REPO, status="active")
    found = queries.get_resource(seeded, **REPO)
    assert found is not None and found.service is not None
    assert found.service.owner.handle == "bob" and found.service.team.slug == "platform"
    assert (
        queries.get_resource(seeded, provider="github", kind="github_repository", name="x") is None
    )


@pytest.fixture
def estate(seeded: Session) -> Session:
    """hello (platform, bob) with a repo and a bucket; orders (payments, carol) with a
    topic; an orphan bucket."""
    _hello(seeded)
    queries.get_or_create_service(seeded, name="orders", team="payments", owner="carol")
    queries.upsert_resource(seeded, service="hello", **REPO, status="active")
    queries.upsert_resource(
        seeded,
        service="hello",
        provider="aws",
        kind="s3_bucket",
        name="platform-hello-logs",
        status="failed",
    )
    queries.upsert_resource(
        seeded,
        service="orders",
        provider="kafka",
        kind="kafka_topic",
        name="payments.orders.created",
        status="active",
    )
    queries.upsert_resource(
        seeded, service=None, provider="aws", kind="s3_bucket", name="old-logs", status="active"
    )
    return seeded


def _names(resources: list[Resource]) -> list[str]:
    return [resource.name for resource in resources]


def test_find_resources_filters(estate: Session) -> None:
    # Ordered by provider, kind, name.
    assert _names(queries.find_resources(estate)) == [
        "old-logs",
        "platform-hello-logs",
        "acme/hello",
        "payments.orders.created",
    ]
    assert _names(queries.find_resources(estate, service="hello")) == [
        "platform-hello-logs",
        "acme/hello",
    ]
    assert _names(queries.find_resources(estate, team="payments")) == ["payments.orders.created"]
    assert _names(queries.find_resources(estate, owner="BOB")) == [
        "platform-hello-logs",
        "acme/hello",
    ]
    assert _names(queries.find_resources(estate, kind="s3_bucket")) == [
        "old-logs",
        "platform-hello-logs",
    ]
    assert _names(queries.find_resources(estate, status="failed")) == ["platform-hello-logs"]
    assert _names(queries.find_resources(estate, provider="kafka")) == ["payments.orders.created"]
    assert _names(queries.find_resources(estate, team="platform", kind="s3_bucket")) == [
        "platform-hello-logs",
    ]
    assert queries.find_resources(estate, team="platform", owner="carol") == []


def test_found_resources_carry_their_service_team_and_owner(estate: Session) -> None:
    for resource in queries.find_resources(estate, service="hello"):
        assert resource.service is not None
        assert resource.service.team.slug == "platform"
        assert resource.service.owner.handle == "bob"
