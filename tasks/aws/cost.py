"""Cost Explorer: what the account spent per week, per `paved:service` and `paved:team` tag.

One `get_cost_and_usage` call per page, daily, grouped by the two tags; the days are
summed into ISO weeks (Monday first) so the weekly cost audit compares whole weeks
whatever day the period starts. Amounts stay `Decimal` from the strings Cost Explorer
sends, so totals are exact.

Cost Explorer has one endpoint, in us-east-1, whatever region the account works in:
the client is built in us-east-1 with the account's credentials, endpoint URL (moto in
tests) and client hooks.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from prefect import task
from pydantic import BaseModel, Field

from tasks.aws import aws_errors, task_logger
from tasks.errors import PermanentProviderError
from tasks.retries import PROVIDER_TASK_OPTIONS

if TYPE_CHECKING:
    from blocks.aws import AwsAccount

__all__ = [
    "CE_REGION",
    "CostRow",
    "CostUsage",
    "week_start",
    "weekly_costs",
    "weekly_costs_task",
]

# Cost Explorer's only endpoint (ce.us-east-1.amazonaws.com) serves every region.
CE_REGION = "us-east-1"

_K = TypeVar("_K", bound=Hashable)


def week_start(day: date) -> date:
    """The Monday of `day`'s ISO week."""
    return day - timedelta(days=day.weekday())


class CostRow(BaseModel):
    """Spend of one service and team in one week, in one unit."""

    week_start: date = Field(description="Monday of the ISO week.")
    service: str | None = Field(
        description="Value of the service tag; None for spend without that tag."
    )
    team: str | None = Field(description="Value of the team tag; None for spend without it.")
    amount: Decimal = Field(description="Sum of the daily amounts of that week.")
    unit: str = Field(description="Unit Cost Explorer gives, e.g. USD.")


class CostUsage(BaseModel):
    """Weekly spend per service and team tag over a period, and what reading it cost."""

    start: date = Field(description="First day of the period (inclusive).")
    end: date = Field(description="Day after the period (exclusive, as Cost Explorer has it).")
    metric: str = Field(description="Cost Explorer metric summed, e.g. UnblendedCost.")
    rows: list[CostRow] = Field(
        description="One row per week, service, team and unit, sorted; untagged spend has "
        "service (or team) None."
    )
    calls: int = Field(ge=0, description="get_cost_and_usage pages requested.")

    def by_week(self, *, unit: str | None = None) -> dict[date, Decimal]:
        """Total per week."""
        return self._totals(lambda row: row.week_start, unit)

    def by_service(self, *, unit: str | None = None) -> dict[str | None, Decimal]:
        """Total per service tag over the period; the key None is untagged spend."""
        return self._totals(lambda row: row.service, unit)

    def by_team(self, *, unit: str | None = None) -> dict[str | None, Decimal]:
        """Total per team tag over the period; the key None is spend without a team tag."""
        return self._totals(lambda row: row.team, unit)

    def by_week_and_service(
        self, *, unit: str | None = None
    ) -> dict[tuple[date, str | None], Decimal]:
        """Total per (week, service tag): the series week-over-week anomalies look at."""
        return self._totals(lambda row: (row.week_start, row.service), unit)

    def by_week_and_team(
        self, *, unit: str | None = None
    ) -> dict[tuple[date, str | None], Decimal]:
        """Total per (week, team tag): the series of the cost-per-team chart."""
        return self._totals(lambda row: (row.week_start, row.team), unit)

    def units(self) -> list[str]:
        """Units present, sorted (one, USD, for cost metrics)."""
        return sorted({row.unit for row in self.rows})

    def _totals(self, key: Callable[[CostRow], _K], unit: str | None) -> dict[_K, Decimal]:
        # Adding amounts of different units would be meaningless (usage metrics mix hours
        # and GB): with several units present, the caller must pick one.
        if unit is None and len(self.units()) > 1:
            raise ValueError(f"rows hold several units {self.units()}: pass unit=")
        totals: dict[_K, Decimal] = {}
        for row in self.rows:
            if unit is None or row.unit == unit:
                totals[key(row)] = totals.get(key(row), Decimal(0)) + row.amount
        return totals


def weekly_costs(
    account: AwsAccount,
    *,
    start: date,
    end: date,
    service_tag: str = "paved:service",
    team_tag: str = "paved:team",
    metric: str = "UnblendedCost",
) -> CostUsage:
    """Spend from `start` (inclusive) to `end` (exclusive) per ISO week, `service_tag`
    value and `team_tag` value; raises Transient/PermanentProviderError."""
    if end <= start:
        raise ValueError(f"end {end} must be after start {start}")
    period = f"cost and usage {start}..{end}"
    ce = _ce_client(account)
    request: dict[str, Any] = {
        "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
        "Granularity": "DAILY",
        "Metrics": [metric],
        "GroupBy": [{"Type": "TAG", "Key": service_tag}, {"Type": "TAG", "Key": team_tag}],
    }
    sums: dict[tuple[date, str | None, str | None, str], Decimal] = {}
    calls = 0
    token: str | None = None
    while True:
        page_request = request if token is None else {**request, "NextPageToken": token}
        with aws_errors("get cost and usage", period):
            page = ce.get_cost_and_usage(**page_request)
        calls += 1
        for result in page.get("ResultsByTime", []):
            week = week_start(date.fromisoformat(result["TimePeriod"]["Start"]))
            for group in result.get("Groups", []):
                keys = group.get("Keys", [])
                service = _tag_value(keys, 0, service_tag, period)
                team = _tag_value(keys, 1, team_tag, period)
                cost = group["Metrics"][metric]
                bucket = (week, service, team, cost["Unit"])
                sums[bucket] = sums.get(bucket, Decimal(0)) + Decimal(cost["Amount"])
        token = page.get("NextPageToken") or None
        if token is None:
            break
    rows = [
        CostRow(week_start=week, service=service, team=team, amount=amount, unit=unit)
        for (week, service, team, unit), amount in sorted(
            sums.items(),
            key=lambda item: (item[0][0], item[0][1] or "", item[0][2] or "", item[0][3]),
        )
    ]
    return CostUsage(start=start, end=end, metric=metric, rows=rows, calls=calls)


def _tag_value(keys: list[str], position: int, tag: str, period: str) -> str | None:
    """The tag's value in a group key `tag$value`; None when the spend has no such tag
    (Cost Explorer sends `tag$` with an empty value then)."""
    key, _, value = keys[position].partition("$") if position < len(keys) else ("", "", "")
    if key != tag:
        raise PermanentProviderError(
            provider="aws",
            operation="get cost and usage",
            resource=period,
            cause=f"group keys {keys} do not start with the tags asked for ({tag!r} at {position})",
        )
    return value or None


def _ce_client(account: AwsAccount) -> Any:
    # Not `account.in_region`: us-east-1 here says where Cost Explorer answers, not where
    # Paved may create things, so the account's allowed regions do not apply.
    credentials = account.credentials.model_copy(update={"region_name": CE_REGION})
    return account.model_copy(update={"credentials": credentials}).get_client("ce")


@task(name="aws: read weekly costs", **PROVIDER_TASK_OPTIONS)
def weekly_costs_task(
    account: AwsAccount,
    *,
    start: date,
    end: date,
    service_tag: str = "paved:service",
    team_tag: str = "paved:team",
    metric: str = "UnblendedCost",
) -> CostUsage:
    """`weekly_costs` as a retrying Prefect task."""
    usage = weekly_costs(
        account,
        start=start,
        end=end,
        service_tag=service_tag,
        team_tag=team_tag,
        metric=metric,
    )
    task_logger().info(
        "Read %s from %s to %s: %d weekly rows in %d calls",
        metric,
        start,
        end,
        len(usage.rows),
        usage.calls,
    )
    return usage
