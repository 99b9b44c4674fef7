"""The registry as Backstage entities: mapping, names, what is left out (both databases)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from registry import queries
from registry.backstage import (
    backstage_entities,
    entity_name,
    is_valid_entity_name,
)
from registry.models import Lifecycle, Provider, ResourceStatus, ServiceStatus, utc_now

LONG_NAME = "payments-" + "x" * 80


def populate_registry(session: Session) -> None:
    """A realistic registry on top of the seed, made with registry queries.

    payments: `orders` (production, carol, repository `acme/orders`, a topic, an SSM
    parameter `/paved/payments/orders`, a task definition `acme/orders:production`, a
    65+ character bucket) and `checkout` (experimental, dave as owner and on-call)
    depending on `orders` and on its topic. platform: `ledger` (retired, with a retired
    resource) that `checkout` also depended on. One orphan bucket; erin deactivated.
    """
    queries.get_or_create_service(
        session,
        name="orders",
        team="payments",
        owner="carol",
        description="Takes orders.",
        lifecycle=Lifecycle.PRODUCTION,
    )
    queries.set_service_status(session, name="orders", status=ServiceStatus.ACTIVE)
    queries.get_or_create_service(
        session, name="checkout", team="payments", owner="dave", oncall="dave"
    )
    queries.set_service_status(session, name="checkout", status=ServiceStatus.ACTIVE)
    queries.get_or_create_service(session, name="ledger", team="platform", owner="bob")
    queries.set_service_status(session, name="ledger", status=ServiceStatus.RETIRED)

    active = ResourceStatus.ACTIVE
    queries.upsert_resource(
        session,
        service="orders",
        provider=Provider.GITHUB,
        kind="github_repository",
        name="acme/orders",
        external_id="acme/orders",
        url="https://github.com/acme/orders",
        status=active,
    )
    queries.upsert_resource(
        session,
        service="orders",
        provider=Provider.KAFKA,
        kind="kafka_topic",
        name="payments.orders.events",
        external_id="payments.orders.events",
        status=active,
    )
    queries.upsert_resource(
        session,
        service="orders",
        provider=Provider.AWS,
        kind="ssm_parameter",
        name="/paved/payments/orders",
        external_id="arn:aws:ssm:eu-west-1:123456789012:parameter/paved/payments/orders",
        status=active,
    )
    queries.upsert_resource(
        session,
        service="orders",
        provider=Provider.AWS,
        kind="ecs_task_definition",
        name="acme/orders:production",
        status=ResourceStatus.PROVISIONING,
    )
    queries.upsert_resource(
        session,
        service="orders",
        provider=Provider.AWS,
        kind="s3_bucket",
        name=LONG_NAME,
        status=active,
    )
    queries.upsert_resource(
        session,
        service="ledger",
        provider=Provider.AWS,
        kind="s3_bucket",
        name="acme-ledger",
        status=ResourceStatus.RETIRED,
    )
    queries.upsert_resource(
        session,
        service=None,
        provider=Provider.AWS,
        kind="s3_bucket",
        name="acme-mystery",
        status=active,
    )
    queries.add_dependency(session, service="checkout", depends_on_service="orders")
    queries.add_dependency(
        session,
        service="checkout",
        depends_on_resource=(Provider.KAFKA, "kafka_topic", "payments.orders.events"),
    )
    queries.add_dependency(session, service="checkout", depends_on_service="ledger")
    erin = queries.require_person(session, handle="erin")
    erin.active = False
    erin.deactivated_at = utc_now()
    session.flush()


def _by_kind_and_name(entities: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["kind"], e["metadata"]["name"]): e for e in entities}


@pytest.fixture
def entities(seeded: Session) -> dict[tuple[str, str], dict[str, Any]]:
    populate_registry(seeded)
    return _by_kind_and_name(backstage_entities(seeded))


def test_teams_become_groups_with_their_members(
    entities: dict[tuple[str, str], dict[str, Any]],
) -> None:
    payments = entities[("Group", "payments")]
    assert payments["apiVersion"] == "backstage.io/v1alpha1"
    assert payments["spec"] == {
        "type": "team",
        "profile": {"displayName": "Payments"},
        "children": [],
        "members": ["carol", "dave"],
    }
    assert payments["metadata"]["annotations"] == {
        "paved.io/cost-center": "cc-200",
        "paved.io/lead": "carol",
    }


def test_people_become_users_and_inactive_ones_are_annotated(
    entities: dict[tuple[str, str], dict[str, Any]],
) -> None:
    carol = entities[("User", "carol")]
    assert carol["spec"] == {
        "profile": {"displayName": "Carol Chen", "email": "carol@acme.example"},
        "memberOf": ["payments"],
    }
    assert "annotations" not in carol["metadata"]
    erin = entities[("User", "erin")]
    assert erin["spec"]["memberOf"] == []
    assert erin["metadata"]["annotations"]["paved.io/active"] == "false"
    assert "paved.io/deactivated-at" in erin["metadata"]["annotations"]


def test_services_become_components_with_owner_lifecycle_and_dependencies(
    entities: dict[tuple[str, str], dict[str, Any]],
) -> None:
    orders = entities[("Component", "orders")]
    assert orders["metadata"]["description"] == "Takes orders."
    assert orders["metadata"]["annotations"] == {
        "github.com/project-slug": "acme/orders",
        "paved.io/accountable-owner": "carol",
        "paved.io/change-approver": "carol",
        "paved.io/cost-watcher": "carol",
        "paved.io/oncall": "carol",
        "paved.io/status": "active",
    }
    assert orders["spec"]["type"] == "service"
    assert orders["spec"]["lifecycle"] == "production"
    assert orders["spec"]["owner"] == "group:default/payments"
    # Its own resources are what it depends on.
    resource_refs = orders["spec"]["dependsOn"]
    assert len(resource_refs) == 5
    assert all(ref.startswith("resource:default/") for ref in resource_refs)

    checkout = entities[("Component", "checkout")]
    assert checkout["spec"]["lifecycle"] == "experimental"
    assert checkout["spec"]["dependsOn"] == [
        "component:default/orders",
        "resource:default/kafka_topic-payments.orders.events",
    ]
    assert "github.com/project-slug" not in checkout["metadata"]["annotations"]


def test_resources_keep_their_original_names_and_point_at_their_service(
    entities: dict[tuple[str, str], dict[str, Any]],
) -> None:
    resources = {
        e["metadata"]["annotations"]["paved.io/name"]: e
        for (kind, _), e in entities.items()
        if kind == "Resource"
    }
    assert set(resources) == {
        "acme/orders",
        "payments.orders.events",
        "/paved/payments/orders",
        "acme/orders:production",
        LONG_NAME,
    }
    topic = resources["payments.orders.events"]
    assert topic["metadata"]["name"] == "kafka_topic-payments.orders.events"
    assert topic["spec"] == {
        "type": "kafka_topic",
        "owner": "group:default/payments",
        "dependencyOf": ["component:default/orders"],
    }
    repository = resources["acme/orders"]
    assert repository["metadata"]["links"] == [
        {"url": "https://github.com/acme/orders", "title": "acme/orders"}
    ]
    assert repository["metadata"]["annotations"]["paved.io/external-id"] == "acme/orders"
    assert resources["acme/orders:production"]["metadata"]["annotations"]["paved.io/status"] == (
        "provisioning"
    )
    for resource in resources.values():
        assert is_valid_entity_name(resource["metadata"]["name"])
    refs = {ref for ref in entities[("Component", "orders")]["spec"]["dependsOn"]}
    assert refs == {f"resource:default/{r['metadata']['name']}" for r in resources.values()}


def test_retired_services_and_resources_and_orphans_are_left_out(
    entities: dict[tuple[str, str], dict[str, Any]],
) -> None:
    names = {name for _, name in entities}
    assert "ledger" not in names
    assert not any("ledger" in name or "mystery" in name for name in names)
    assert (
        "component:default/ledger" not in entities[("Component", "checkout")]["spec"]["dependsOn"]
    )


def test_every_reference_points_at_an_exported_entity(
    entities: dict[tuple[str, str], dict[str, Any]],
) -> None:
    exported = {f"{kind.lower()}:default/{name}" for kind, name in entities}
    for (kind, _), entity in entities.items():
        spec = entity["spec"]
        refs = [*spec.get("dependsOn", []), *spec.get("dependencyOf", [])]
        if "owner" in spec:
            refs.append(spec["owner"])
        refs += [f"group:default/{team}" for team in spec.get("memberOf", [])]
        refs += [f"user:default/{member}" for member in spec.get("members", [])]
        assert set(refs) <= exported, kind


def test_a_retired_service_keeps_a_live_resource_owned_by_its_team(seeded: Session) -> None:
    queries.get_or_create_service(seeded, name="ledger", team="platform", owner="bob")
    queries.upsert_resource(
        seeded,
        service="ledger",
        provider=Provider.AWS,
        kind="s3_bucket",
        name="acme-ledger",
        status=ResourceStatus.ACTIVE,
    )
    queries.set_service_status(seeded, name="ledger", status=ServiceStatus.RETIRED)
    [bucket] = [e for e in backstage_entities(seeded) if e["kind"] == "Resource"]
    assert bucket["spec"] == {"type": "s3_bucket", "owner": "group:default/platform"}


def test_an_empty_registry_exports_nothing(session: Session) -> None:
    assert backstage_entities(session) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("orders", "orders"),
        ("payments.orders.events", "payments.orders.events"),
        ("a_b-c.D9", "a_b-c.D9"),
        ("x" * 63, "x" * 63),
    ],
)
def test_valid_names_are_kept(text: str, expected: str) -> None:
    assert entity_name(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "acme/orders",
        "/paved/payments/orders",
        "acme/orders:production",
        "x" * 64,
        "-leading",
        "trailing.",
        "//",
        "",
        "ünïcode name",
    ],
)
def test_invalid_names_become_valid_deterministic_and_distinct(text: str) -> None:
    name = entity_name(text)
    assert is_valid_entity_name(name), name
    assert entity_name(text) == name
    # Cleaning up the same way does not make two names one.
    assert entity_name(text + "!") != name


def test_cleaned_names_stay_readable() -> None:
    assert entity_name("acme/orders").startswith("acme-orders-")
    assert entity_name("/paved/payments/orders").startswith("paved-payments-orders-")
    assert len(entity_name("y" * 200)) == 63
