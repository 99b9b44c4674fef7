"""Drift findings over audit runs, and the audit's view of the registry, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry import queries
from registry.errors import PolicyViolation
from registry.findings import (
    DetectedDrift,
    answerable_people,
    audit_targets,
    findings_to_notify,
    known_external_ids,
    list_findings,
    mark_notified,
    resolve_findings,
    sync_findings,
)
from registry.models import DriftClass, DriftFinding

T0 = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)


def drift(
    identifier: str,
    drift_class: DriftClass = DriftClass.CHANGED,
    *,
    provider: str = "aws",
    owner: str | None = "carol",
) -> DetectedDrift:
    return DetectedDrift(
        drift_class=drift_class,
        provider=provider,
        kind="s3_bucket",
        identifier=identifier,
        summary=f"{identifier} differs",
        service="orders",
        team="payments",
        owner=owner,
    )


def test_a_finding_is_opened_once_seen_again_then_resolved(seeded: Session) -> None:
    first = sync_findings(seeded, detected=[drift("b1")], audited={"aws"}, run_id="r1", now=T0)
    again = sync_findings(
        seeded, detected=[drift("b1")], audited={"aws"}, run_id="r2", now=T0 + timedelta(days=1)
    )
    gone = sync_findings(seeded, detected=[], audited={"aws"}, run_id="r3", now=T0 + timedelta(2))

    assert len(first.opened) == 1 and again.opened == [] and again.seen_again == first.opened
    assert gone.resolved == first.opened
    (row,) = list_findings(seeded)
    assert (row.first_seen, row.last_seen) == (T0, T0 + timedelta(days=1))
    assert row.resolved_at == T0 + timedelta(days=2) and row.resolution == "gone"
    assert row.last_run_id == "r3"


def test_a_provider_not_listed_keeps_its_findings_open(seeded: Session) -> None:
    sync_findings(seeded, detected=[drift("b1")], audited={"aws"}, run_id="r1", now=T0)
    # The AWS listing failed in r2: its findings cannot be judged gone.
    outcome = sync_findings(seeded, detected=[], audited={"kafka", "registry"}, run_id="r2")
    assert outcome.resolved == []
    assert [row.identifier for row in list_findings(seeded, open_only=True)] == ["b1"]


def test_ownerless_findings_belong_to_the_registry_scope(seeded: Session) -> None:
    ownerless = drift("orders", DriftClass.OWNERLESS, provider="registry")
    opened = sync_findings(seeded, detected=[ownerless], audited={"registry"}, run_id="r1")
    outcome = sync_findings(seeded, detected=[], audited={"registry"}, run_id="r2")
    # The finding resolved is the ownerless one opened in r1, judged gone by r2.
    assert len(opened.opened) == 1 and outcome.resolved == opened.opened
    (row,) = list_findings(seeded)
    assert (row.id, row.provider, row.identifier) == (opened.opened[0], "registry", "orders")
    assert row.drift_class == DriftClass.OWNERLESS
    assert (row.resolution, row.last_run_id) == ("gone", "r2")


def test_a_difference_that_comes_back_opens_a_new_finding(seeded: Session) -> None:
    sync_findings(seeded, detected=[drift("b1")], audited={"aws"}, run_id="r1", now=T0)
    sync_findings(seeded, detected=[], audited={"aws"}, run_id="r2", now=T0 + timedelta(1))
    sync_findings(
        seeded, detected=[drift("b1")], audited={"aws"}, run_id="r3", now=T0 + timedelta(2)
    )
    rows = list_findings(seeded)
    assert [(r.first_seen, r.resolution) for r in rows] == [
        (T0, "gone"),
        (T0 + timedelta(2), None),
    ]


def test_the_database_refuses_two_open_findings_with_one_fingerprint(seeded: Session) -> None:
    sync_findings(seeded, detected=[drift("b1")], audited={"aws"}, run_id="r1", now=T0)
    (row,) = list_findings(seeded)
    seeded.add(
        DriftFinding(
            fingerprint=row.fingerprint,
            drift_class=row.drift_class,
            provider="aws",
            kind="s3_bucket",
            identifier="b1",
            summary="twin",
            first_seen=T0,
            last_seen=T0,
        )
    )
    with pytest.raises(IntegrityError):
        seeded.flush()
    seeded.rollback()


def test_owners_are_told_once_then_reminded_after_the_interval(seeded: Session) -> None:
    week = timedelta(days=7)
    sync_findings(seeded, detected=[drift("b1"), drift("b2")], audited={"aws"}, run_id="r1", now=T0)
    due = findings_to_notify(seeded, reminder=week, now=T0)
    assert {owner: [f.identifier for f in rows] for owner, rows in due.items()} == {
        "carol": ["b1", "b2"]
    }
    mark_notified(seeded, ids=[f.id for f in due["carol"]], now=T0)
    seeded.expire_all()

    assert findings_to_notify(seeded, reminder=week, now=T0 + timedelta(days=1)) == {}
    # A new finding makes the owner due again, with all their open findings listed.
    sync_findings(
        seeded,
        detected=[drift("b1"), drift("b2"), drift("b3")],
        audited={"aws"},
        run_id="r2",
        now=T0 + timedelta(days=1),
    )
    due = findings_to_notify(seeded, reminder=week, now=T0 + timedelta(days=1))
    assert [f.identifier for f in due["carol"]] == ["b1", "b2", "b3"]
    mark_notified(seeded, ids=[f.id for f in due["carol"]], now=T0 + timedelta(days=1))
    seeded.expire_all()
    assert findings_to_notify(seeded, reminder=week, now=T0 + timedelta(days=7)) == {}
    assert set(findings_to_notify(seeded, reminder=week, now=T0 + timedelta(days=8))) == {"carol"}


def test_a_new_owner_of_an_open_finding_is_told(seeded: Session) -> None:
    sync_findings(seeded, detected=[drift("b1")], audited={"aws"}, run_id="r1", now=T0)
    (row,) = list_findings(seeded)
    mark_notified(seeded, ids=[row.id], now=T0)
    sync_findings(
        seeded, detected=[drift("b1", owner="dave")], audited={"aws"}, run_id="r2", now=T0
    )
    seeded.expire_all()
    assert set(findings_to_notify(seeded, reminder=timedelta(days=7), now=T0)) == {"dave"}


def test_findings_filter_by_state_class_owner_and_service(seeded: Session) -> None:
    detected = [drift("b1"), drift("b2", DriftClass.MISTAGGED, owner="dave")]
    outcome = sync_findings(seeded, detected=detected, audited={"aws"}, run_id="r1", now=T0)
    resolve_findings(seeded, ids=outcome.opened[:1], resolution="remediated")

    assert [r.identifier for r in list_findings(seeded, open_only=True)] == ["b2"]
    assert [r.identifier for r in list_findings(seeded, drift_class="changed")] == ["b1"]
    assert [r.identifier for r in list_findings(seeded, owner="DAVE")] == ["b2"]
    assert len(list_findings(seeded, service="orders")) == 2
    with pytest.raises(PolicyViolation, match="drift class 'weird'"):
        list_findings(seeded, drift_class="weird")


def test_audit_targets_carry_the_tags_the_policy_requires_now(seeded: Session) -> None:
    queries.get_or_create_service(seeded, name="orders", team="payments", owner="dave")
    queries.upsert_resource(
        seeded,
        service="orders",
        provider="aws",
        kind="s3_bucket",
        name="payments-orders-data",
        external_id="arn:aws:s3:::payments-orders-data",
        spec={"encryption": "AES256"},
        status="active",
    )
    queries.upsert_resource(
        seeded, service=None, provider="aws", kind="s3_bucket", name="stray", status="retired"
    )
    queries.deactivate_person(seeded, handle="dave", requester="alice")

    (target,) = audit_targets(seeded)
    assert target.expected_tags["paved:owner"] == "dave"
    assert target.expected_tags["paved:cost-center"] == "cc-200"
    assert target.spec == {"encryption": "AES256"}
    # dave left: the team lead answers until ownership moves.
    assert target.answerable == "carol"
    assert known_external_ids(seeded) >= {"arn:aws:s3:::payments-orders-data", "stray"}
    people = answerable_people(seeded)
    assert people.services["orders"] == "carol" and people.teams["platform"] == "alice"
