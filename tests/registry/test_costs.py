"""Cost records, budgets and the weekly reading of them, on both databases."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from registry import queries
from registry.costs import CostRow, analyse_week, cost_series, record_costs, set_budget
from registry.errors import PolicyViolation

WEEK = date(2026, 11, 16)
PREVIOUS = date(2026, 11, 9)


@pytest.fixture
def world(seeded: Session) -> Session:
    """orders (payments, carol; dave watches cost) and hello (platform, bob)."""
    queries.get_or_create_service(
        seeded, name="orders", team="payments", owner="carol", cost_watcher="dave"
    )
    queries.get_or_create_service(seeded, name="hello", team="platform", owner="bob")
    return seeded


def test_costs_are_totalled_per_service_team_and_owner(world: Session) -> None:
    record_costs(
        world,
        rows=[
            CostRow(WEEK, "orders", "payments", Decimal("120.50")),
            CostRow(WEEK, "hello", "platform", Decimal("10.25")),
            CostRow(WEEK, "", "payments", Decimal("30")),
            CostRow(WEEK, "", "", Decimal("9.25")),
            CostRow(WEEK, "ghost", "", Decimal("5")),
        ],
    )
    analysis = analyse_week(world, week_start=WEEK)

    assert analysis.total == Decimal("175.00")
    assert analysis.untagged == Decimal("39.25")
    assert analysis.untagged_share == pytest.approx(39.25 / 175)
    assert {s.service: s.amount for s in analysis.services} == {
        "hello": Decimal("10.25"),
        "orders": Decimal("120.50"),
    }
    assert {t.team: t.amount for t in analysis.teams} == {
        "payments": Decimal("150.50"),
        "platform": Decimal("10.25"),
    }
    assert analysis.by_owner == {"carol": Decimal("120.50"), "bob": Decimal("10.25")}
    assert {(u.service_tag, u.team_tag): u.probable_owner for u in analysis.unattributed} == {
        ("", ""): None,
        ("", "payments"): "carol",
        ("ghost", ""): None,
    }


def test_budgets_and_growth_on_both_thresholds(world: Session) -> None:
    set_budget(world, service="orders", weekly_usd=Decimal(100))
    set_budget(world, team="platform", weekly_usd=Decimal(1000))
    record_costs(
        world,
        rows=[
            CostRow(PREVIOUS, "orders", "payments", Decimal(60)),
            CostRow(WEEK, "orders", "payments", Decimal(120)),  # +100%, +60 USD
            CostRow(PREVIOUS, "hello", "platform", Decimal(2)),
            CostRow(WEEK, "hello", "platform", Decimal(8)),  # +300% but +6 USD: noise
        ],
    )
    analysis = analyse_week(world, week_start=WEEK, growth_ratio=0.5, growth_usd=Decimal(50))
    services = {s.service: s for s in analysis.services}

    assert services["orders"].over_budget and services["orders"].anomalous
    assert services["orders"].cost_watcher == "dave"
    assert services["orders"].previous == Decimal(60)
    assert not services["hello"].over_budget and not services["hello"].anomalous
    assert services["hello"].cost_watcher == "alice"  # no watcher: the team lead
    teams = {t.team: t for t in analysis.teams}
    assert teams["payments"].anomalous and teams["payments"].budget is None
    assert not teams["platform"].over_budget


def test_recording_a_week_again_replaces_it(world: Session) -> None:
    record_costs(world, rows=[CostRow(WEEK, "orders", "payments", Decimal(1))])
    record_costs(
        world,
        rows=[
            CostRow(WEEK, "orders", "payments", Decimal(2)),
            CostRow(WEEK, "orders", "payments", Decimal(3)),
        ],
    )
    assert analyse_week(world, week_start=WEEK).total == Decimal(5)
    assert cost_series(world, since=PREVIOUS) == {WEEK: {"payments": Decimal(5)}}


def test_bad_budgets_and_weeks_are_refused(world: Session) -> None:
    with pytest.raises(PolicyViolation, match="exactly one"):
        set_budget(world, weekly_usd=Decimal(1))
    with pytest.raises(PolicyViolation, match="negative"):
        set_budget(world, service="orders", weekly_usd=Decimal(-1))
    with pytest.raises(PolicyViolation, match="no service 'nope'"):
        set_budget(world, service="nope", weekly_usd=Decimal(1))
    with pytest.raises(PolicyViolation, match="Monday"):
        record_costs(world, rows=[CostRow(date(2026, 11, 17), "orders", "payments", Decimal(1))])
