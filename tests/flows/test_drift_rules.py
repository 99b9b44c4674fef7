"""The drift audit's rules on hand-made registry rows and inventories, and how it merges
per-region listings (pure functions: the flow test runs them against the real providers)."""

from __future__ import annotations

from typing import Any

from prefect_aws.credentials import AwsCredentials

from blocks import AwsAccount
from flows.audits.drift import aws_regions, merged_inventory
from flows.audits.drift_rules import detect_drift, setting_differences
from registry.answers import NO_SERVICE, OWNER_DEACTIVATED, TEAM_LEAD_INACTIVE, Orphan
from registry.findings import Answerable, AuditTarget
from registry.models import DriftClass, ResourceStatus
from tasks.audit import Observed, ProviderInventory

TAGS = {
    "paved:service": "orders",
    "paved:team": "payments",
    "paved:owner": "carol",
    "paved:cost-center": "cc-200",
    "paved:managed-by": "paved",
}
PEOPLE = Answerable(
    services={"orders": "carol", "hello": "bob"}, teams={"payments": "carol", "platform": "alice"}
)


def target(
    resource_id: int,
    name: str,
    *,
    kind: str = "s3_bucket",
    provider: str = "aws",
    spec: dict[str, Any] | None = None,
    status: ResourceStatus = ResourceStatus.ACTIVE,
) -> AuditTarget:
    return AuditTarget(
        resource_id=resource_id,
        provider=provider,
        kind=kind,
        name=name,
        external_id=f"arn:aws:s3:::{name}" if provider == "aws" else name,
        status=status,
        spec=spec or {},
        service="orders",
        team="payments",
        owner="carol",
        expected_tags=TAGS if provider == "aws" else {},
        answerable="carol",
    )


def seen(
    name: str, *, kind: str = "s3_bucket", tags: dict[str, str] | None = None, **settings: Any
) -> Observed:
    return Observed(
        provider="aws",
        kind=kind,
        external_id=f"arn:aws:s3:::{name}",
        name=name,
        tags=TAGS if tags is None else tags,
        settings=settings,
    )


def aws(*items: Observed, kinds: tuple[str, ...] = ("s3_bucket",)) -> ProviderInventory:
    return ProviderInventory(provider="aws", kinds=list(kinds), resources=list(items), calls=1)


def detect(targets: list[AuditTarget], *inventories: ProviderInventory, **kw: Any) -> list[Any]:
    return detect_drift(
        targets=targets,
        known={t.external_id or t.name for t in targets} | set(kw.pop("known", set())),
        inventories=inventories,
        orphans=kw.pop("orphans", []),
        people=PEOPLE,
        fallback_owner="alice",
    )


def test_only_declared_settings_are_compared_and_nested_maps_key_by_key() -> None:
    declared = {
        "partitions": 3,
        "configs": {"retention.ms": "604800000", "cleanup.policy": "delete"},
        "purpose": "events",
    }
    observed = {
        "partitions": 3,
        "replication_factor": 1,
        "configs": {"retention.ms": "3600000", "cleanup.policy": "delete", "segment.ms": "1"},
    }
    assert setting_differences("kafka_topic", declared, observed) == {
        "configs.retention.ms": {"declared": "604800000", "actual": "3600000"}
    }


def test_a_repository_is_declared_unarchived_and_protection_compared_by_key() -> None:
    declared = {
        "private": True,
        "topics": ["paved", "payments"],
        "branch_protection": {"required_approving_review_count": 1, "enforce_admins": True},
    }
    observed = {
        "private": True,
        "archived": True,
        "topics": ["payments", "paved"],
        "branch_protection": None,
    }
    assert setting_differences("github_repository", declared, observed) == {
        "archived": {"declared": False, "actual": True},
        "branch_protection": {
            "declared": {"required_approving_review_count": 1, "enforce_admins": True},
            "actual": None,
        },
    }


def test_each_class_is_detected_once_with_the_person_who_answers() -> None:
    targets = [
        target(1, "payments-orders-data", spec={"encryption": "AES256"}),
        target(2, "payments-orders-gone"),
        target(3, "payments-orders-planned", status=ResourceStatus.PLANNED),
        target(4, "payments.orders.events", kind="kafka_topic", provider="kafka"),
    ]
    inventory = aws(
        seen("payments-orders-data", encryption=None, tags={**TAGS, "paved:owner": "dave"}),
        seen("payments-scratch", tags={}),
        seen("unrelated-thing", tags={}),
    )
    found = detect(targets, inventory)

    got = {(d.drift_class, d.identifier): d for d in found}
    assert set(got) == {
        (DriftClass.CHANGED, "arn:aws:s3:::payments-orders-data"),
        (DriftClass.MISTAGGED, "arn:aws:s3:::payments-orders-data"),
        (DriftClass.MISSING, "arn:aws:s3:::payments-orders-gone"),
        (DriftClass.UNMANAGED, "arn:aws:s3:::payments-scratch"),
        (DriftClass.UNMANAGED, "arn:aws:s3:::unrelated-thing"),
    }
    assert got[(DriftClass.MISTAGGED, "arn:aws:s3:::payments-orders-data")].detail == {
        "tags": {"paved:owner": {"actual": "dave", "declared": "carol"}}
    }
    # Named after the payments team: its lead; named after nothing known: the fallback.
    assert got[(DriftClass.UNMANAGED, "arn:aws:s3:::payments-scratch")].owner == "carol"
    assert got[(DriftClass.UNMANAGED, "arn:aws:s3:::unrelated-thing")].owner == "alice"
    # A planned resource may not exist yet, and kafka was not listed: neither is missing.
    assert all(d.resource_id in (1, 2) for d in found if d.resource_id)


def test_kinds_an_inventory_did_not_list_are_never_missing() -> None:
    targets = [target(1, "payments-orders-data", kind="dynamodb_table")]
    assert detect(targets, aws(kinds=("s3_bucket",))) == []


def test_what_the_registry_ever_knew_is_not_unmanaged() -> None:
    inventory = aws(seen("payments-orders-retired", tags={}))
    assert detect([], inventory, known={"arn:aws:s3:::payments-orders-retired"}) == []


def test_an_ownerless_service_is_one_finding_for_all_its_reasons() -> None:
    orphans = [
        Orphan("service", "orders", OWNER_DEACTIVATED, "orders", "payments", "dave", resources=4),
        Orphan("service", "orders", TEAM_LEAD_INACTIVE, "orders", "payments", "dave", resources=4),
        Orphan("resource", "stray-bucket", NO_SERVICE, None, None, None, "aws", "s3_bucket"),
    ]
    found = detect([], orphans=orphans)
    assert [(d.kind, d.identifier, d.owner) for d in found] == [
        ("service", "orders", "carol"),
        ("s3_bucket", "stray-bucket", "alice"),
    ]
    assert found[0].detail["reasons"] == [OWNER_DEACTIVATED, TEAM_LEAD_INACTIVE]
    assert {d.drift_class for d in found} == {DriftClass.OWNERLESS}


def test_aws_is_listed_in_every_allowed_region_the_registry_uses() -> None:
    account = AwsAccount(credentials=AwsCredentials(region_name="us-east-1"))
    in_ireland = target(1, "payments-orders-data", spec={"region": "eu-west-1"})
    elsewhere = target(2, "payments-orders-old", spec={"region": "ap-south-1"})
    kafka = target(3, "t", kind="kafka_topic", provider="kafka", spec={"region": "x"})

    assert aws_regions(account, [in_ireland, elsewhere, kafka]) == ["us-east-1", "eu-west-1"]
    assert aws_regions(account, []) == ["us-east-1"]


def test_per_region_inventories_merge_keeping_global_things_once() -> None:
    role = Observed(provider="aws", kind="iam_role", external_id="arn:aws:iam::1:role/r", name="r")
    east = aws(seen("east-bucket"), role, kinds=("s3_bucket", "iam_role"))
    west = aws(seen("west-bucket"), role, kinds=("s3_bucket", "iam_role"))

    merged = merged_inventory("aws", [east, west])

    assert sorted(r.name for r in merged.resources) == ["east-bucket", "r", "west-bucket"]
    assert merged.calls == 2 and merged.kinds == ["s3_bucket", "iam_role"]
