"""audit:cost on seeded Cost Explorer results (moto's static results): exact totals per
service, team and owner, budget breaches, anomalies, untagged spend, the cost watchers
told once each, and the chart in the artifacts."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.client.schemas.objects import StateType

from flows.audits.cost import CostAuditResult, audit_cost, last_full_week
from registry import queries
from registry.costs import set_budget
from registry.db import make_engine, session_scope
from registry.models import CostRecord
from tests.flows.notify_helpers import Sink
from tests.tasks.test_aws_cost import day

pytestmark = pytest.mark.usefixtures("paved_blocks", "aws_account", "notify_channels")

# Two weeks: 2026-11-09 and 2026-11-16 (Mondays).
RESULTS = {
    "ResultsByTime": [
        day("2026-11-09", "2026-11-10", ("orders", "payments", "60"), ("hello", "platform", "2")),
        day("2026-11-16", "2026-11-17", ("orders", "payments", "70"), ("", "payments", "30")),
        day("2026-11-18", "2026-11-19", ("orders", "payments", "50"), ("hello", "platform", "8")),
        day("2026-11-22", "2026-11-23", ("", "", "9.25")),
    ],
    "DimensionValueAttributes": [],
}


@pytest.fixture
def world(registry_url: str, moto_url: str) -> str:
    """orders (payments, carol; dave watches its cost; budget 100/week), hello (platform,
    bob), and the Cost Explorer results above."""
    with session_scope(make_engine(registry_url)) as session:
        queries.get_or_create_service(
            session, name="orders", team="payments", owner="carol", cost_watcher="dave"
        )
        queries.get_or_create_service(session, name="hello", team="platform", owner="bob")
        set_budget(session, service="orders", weekly_usd=Decimal(100))
        set_budget(session, team="payments", weekly_usd=Decimal(1000))
    response = httpx.post(
        f"{moto_url}/moto-api/static/ce/cost-and-usage-results",
        json={"results": [RESULTS]},
        timeout=10,
    )
    assert response.status_code == 201
    return registry_url


def run(**request: Any) -> CostAuditResult:
    state = audit_cost(
        request={"requester": "carol", "week_start": "2026-11-16", "weeks": 2, **request},
        return_state=True,
    )
    assert state.is_completed(), state.message
    result = state.result()
    assert isinstance(result, CostAuditResult)
    return result


def test_the_week_is_totalled_compared_and_the_watchers_told(world: str, sink: Sink) -> None:
    result = run()

    assert result.total == Decimal("167.25")
    assert result.untagged == Decimal("39.25")
    assert result.untagged_share == pytest.approx(39.25 / 167.25)
    assert result.by_service == {"hello": Decimal(8), "orders": Decimal(120)}
    assert result.by_team == {"payments": Decimal(150), "platform": Decimal(8)}
    assert result.by_owner == {"carol": Decimal(120), "bob": Decimal(8)}
    assert result.over_budget == ["orders"]
    # orders: +60 USD, +100%; payments: +90 USD, +150%; hello: +300% but +6 USD only.
    assert result.anomalous == ["orders", "team:payments"]
    assert result.calls == 1

    (to_dave,) = sink.messages("dave")
    assert "service orders: 120.00 USD" in to_dave["body"]["body"]
    assert "over budget anomaly" in to_dave["body"]["body"]
    (to_carol,) = sink.messages("carol")
    assert "team payments: 150.00 USD" in to_carol["body"]["body"]
    assert result.notified == {"dave": "sent", "carol": "sent"}

    with get_client(sync_client=True) as client:
        (chart,) = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["cost-audit-chart"])),
            limit=1,
        )
    assert str(chart.data).startswith("data:image/png;base64,")


def test_a_rerun_of_the_same_week_converges(world: str) -> None:
    run()
    again = run()
    assert again.total == Decimal("167.25")
    with session_scope(make_engine(world)) as session:
        assert session.query(CostRecord).count() == 6


def test_a_week_that_does_not_start_on_monday_is_refused() -> None:
    state = audit_cost(
        request={"requester": "carol", "week_start": "2026-11-17"}, return_state=True
    )
    assert state.type == StateType.FAILED
    assert "weeks start on Monday" in (state.message or "")


def test_the_default_week_is_the_last_complete_one() -> None:
    assert last_full_week(date(2026, 11, 26)) == date(2026, 11, 16)
    assert last_full_week(date(2026, 11, 23)) == date(2026, 11, 16)
