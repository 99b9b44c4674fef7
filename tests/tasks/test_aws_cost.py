"""Cost Explorer against moto, with results seeded through moto's
`/moto-api/static/ce/cost-and-usage-results`: moto hands out the queued results in order,
one per distinct request body, so a second page is the next result queued, answered to
the request that carries the first page's NextPageToken."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from blocks.aws import CLIENT_HOOKS, AwsAccount
from tasks.aws.cost import CostRow, CostUsage, week_start, weekly_costs, weekly_costs_task
from tasks.errors import TransientProviderError
from tests.flows.aws_faults import AwsFaults, installed
from tests.servers import moto_account

WEEK_1 = date(2024, 1, 1)  # a Monday
WEEK_2 = date(2024, 1, 8)


@pytest.fixture
def account(moto_url: str) -> AwsAccount:
    """An account working in eu-west-1: Cost Explorer must still be asked in us-east-1."""
    return moto_account(moto_url, region="eu-west-1", allowed_regions=["eu-west-1"])


@pytest.fixture
def faults() -> Iterator[AwsFaults]:
    yield from installed()


@dataclass
class CeRequests:
    """Every Cost Explorer client the block builds (its region) and request it sends."""

    regions: list[str] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)

    def hook(self, client: Any) -> None:
        if client.meta.service_model.service_name == "ce":
            self.regions.append(client.meta.region_name)
            client.meta.events.register("before-send.cost-explorer.GetCostAndUsage", self._sent)

    def _sent(self, request: Any, **_: Any) -> None:
        self.bodies.append(json.loads(request.body))


@pytest.fixture
def ce_requests() -> Iterator[CeRequests]:
    """What Cost Explorer is asked, seen through the block's client hook seam."""
    seen = CeRequests()
    CLIENT_HOOKS.append(seen.hook)
    yield seen
    CLIENT_HOOKS.remove(seen.hook)


def seed(moto_url: str, *pages: dict[str, Any]) -> None:
    response = httpx.post(
        f"{moto_url}/moto-api/static/ce/cost-and-usage-results",
        json={"results": list(pages)},
        timeout=10,
    )
    assert response.status_code == 201


def day(start: str, end: str, *groups: tuple[str, str, str]) -> dict[str, Any]:
    """One day of a DAILY result; groups are (service tag value, team tag value, amount),
    an empty value meaning the spend has no such tag."""
    return {
        "TimePeriod": {"Start": start, "End": end},
        "Total": {},
        "Groups": [
            {
                "Keys": [f"paved:service${service}", f"paved:team${team}"],
                "Metrics": {"UnblendedCost": {"Amount": amount, "Unit": "USD"}},
            }
            for service, team, amount in groups
        ],
        "Estimated": False,
    }


# Two pages as Cost Explorer splits them: by group within the same days. Amounts are the
# kind a float sum gets wrong (0.1 + 0.2).
PAGE_1 = {
    "ResultsByTime": [
        day("2024-01-05", "2024-01-06", ("orders", "payments", "0.1"), ("", "payments", "1.25")),
        day("2024-01-07", "2024-01-08", ("orders", "payments", "0.2")),
        day("2024-01-08", "2024-01-09", ("orders", "payments", "10.0000000001")),
    ],
    "DimensionValueAttributes": [],
    "NextPageToken": "page-2",
}
PAGE_2 = {
    "ResultsByTime": [
        day("2024-01-05", "2024-01-06", ("search", "discovery", "3.3")),
        day("2024-01-08", "2024-01-09", ("search", "discovery", "0.7"), ("", "", "2.05")),
        day("2024-01-09", "2024-01-10", ("search", "discovery", "0.3")),
    ],
    "DimensionValueAttributes": [],
}


def test_two_pages_summed_into_weeks_by_service_and_team_exactly(
    account: AwsAccount, moto_url: str, faults: AwsFaults
) -> None:
    seed(moto_url, PAGE_1, PAGE_2)

    usage = weekly_costs_task.fn(account, start=date(2024, 1, 5), end=date(2024, 1, 10))

    assert usage.calls == 2 == faults.calls["cost-explorer.GetCostAndUsage"]
    assert [
        (row.week_start, row.service, row.team, row.amount, row.unit) for row in usage.rows
    ] == [
        (WEEK_1, None, "payments", Decimal("1.25"), "USD"),
        (WEEK_1, "orders", "payments", Decimal("0.3"), "USD"),
        (WEEK_1, "search", "discovery", Decimal("3.3"), "USD"),
        (WEEK_2, None, None, Decimal("2.05"), "USD"),
        (WEEK_2, "orders", "payments", Decimal("10.0000000001"), "USD"),
        (WEEK_2, "search", "discovery", Decimal("1.0"), "USD"),
    ]
    assert usage.by_week() == {WEEK_1: Decimal("4.85"), WEEK_2: Decimal("13.0500000001")}
    assert usage.by_service() == {
        None: Decimal("3.30"),
        "orders": Decimal("10.3000000001"),
        "search": Decimal("4.3"),
    }
    assert usage.by_team() == {
        None: Decimal("2.05"),
        "payments": Decimal("11.5500000001"),
        "discovery": Decimal("4.3"),
    }
    assert usage.by_week_and_team()[(WEEK_2, "discovery")] == Decimal("1.0")
    assert usage.by_week_and_service()[(WEEK_1, None)] == Decimal("1.25")
    assert sum(usage.by_week().values()) == sum(usage.by_service().values())


def test_daily_results_grouped_by_both_tags_are_asked_of_us_east_1_page_by_page(
    account: AwsAccount, moto_url: str, ce_requests: CeRequests
) -> None:
    seed(moto_url, PAGE_1, PAGE_2)

    weekly_costs(account, start=date(2024, 1, 5), end=date(2024, 1, 10))

    assert ce_requests.regions == ["us-east-1"], "one client, in Cost Explorer's region"
    first, second = ce_requests.bodies
    assert first == {
        "TimePeriod": {"Start": "2024-01-05", "End": "2024-01-10"},
        "Granularity": "DAILY",
        "Metrics": ["UnblendedCost"],
        "GroupBy": [{"Type": "TAG", "Key": "paved:service"}, {"Type": "TAG", "Key": "paved:team"}],
    }
    assert second == {**first, "NextPageToken": "page-2"}


def test_a_period_without_results_has_no_rows(account: AwsAccount) -> None:
    usage = weekly_costs(account, start=date(2024, 1, 1), end=date(2024, 1, 8))

    assert (usage.rows, usage.calls, usage.by_week()) == ([], 1, {})


def test_other_tag_keys_and_metric_are_asked_for(account: AwsAccount, moto_url: str) -> None:
    seed(
        moto_url,
        {
            "ResultsByTime": [
                {
                    "TimePeriod": {"Start": "2024-01-03", "End": "2024-01-04"},
                    "Groups": [
                        {
                            "Keys": ["app$orders", "owner$payments"],
                            "Metrics": {"AmortizedCost": {"Amount": "4.5", "Unit": "USD"}},
                        }
                    ],
                }
            ]
        },
    )

    usage = weekly_costs(
        account,
        start=date(2024, 1, 1),
        end=date(2024, 1, 8),
        service_tag="app",
        team_tag="owner",
        metric="AmortizedCost",
    )

    assert usage.by_week_and_service() == {(WEEK_1, "orders"): Decimal("4.5")}
    assert usage.by_team() == {"payments": Decimal("4.5")}


def test_totals_refuse_to_add_different_units() -> None:
    usage = CostUsage(
        start=WEEK_1,
        end=WEEK_2,
        metric="UsageQuantity",
        calls=1,
        rows=[
            CostRow(week_start=WEEK_1, service="a", team="t", amount=Decimal(3), unit="Hrs"),
            CostRow(week_start=WEEK_1, service="a", team="t", amount=Decimal(2), unit="GB"),
        ],
    )

    with pytest.raises(ValueError, match="several units"):
        usage.by_service()
    assert usage.by_service(unit="Hrs") == {"a": Decimal(3)}


def test_weeks_start_on_monday() -> None:
    assert [week_start(date(2024, 1, d)) for d in (1, 3, 7, 8)] == [WEEK_1] * 3 + [WEEK_2]


def test_throttling_is_retried_by_the_client_then_transient(
    account: AwsAccount, moto_url: str, faults: AwsFaults
) -> None:
    seed(moto_url, PAGE_1, PAGE_2)
    faults.add("cost-explorer.GetCostAndUsage", status=400, code="ThrottlingException", times=1)

    usage = weekly_costs(account, start=date(2024, 1, 5), end=date(2024, 1, 10))

    assert usage.calls == 2 and faults.calls["cost-explorer.GetCostAndUsage"] == 3
    assert usage.by_week()[WEEK_1] == Decimal("4.85")

    faults.add("cost-explorer.GetCostAndUsage", status=400, code="ThrottlingException", times=1)
    once = account.model_copy(update={"max_attempts": 1})
    with pytest.raises(TransientProviderError, match="ThrottlingException") as raised:
        weekly_costs(once, start=date(2024, 1, 5), end=date(2024, 1, 10))
    assert raised.value.provider == "aws"


def test_an_empty_period_is_refused_before_any_call(account: AwsAccount, faults: AwsFaults) -> None:
    with pytest.raises(ValueError, match="must be after"):
        weekly_costs(account, start=date(2024, 1, 8), end=date(2024, 1, 8))
    assert faults.calls["cost-explorer.GetCostAndUsage"] == 0
