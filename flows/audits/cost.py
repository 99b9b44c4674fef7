"""`audit:cost` — spend per service, team and accountable owner, weekly.

Cost Explorer, grouped by the paved:service and paved:team tags, for the audited
  week and the weeks before it (the chart's history, the week-over-week comparison)
-> kept in the registry per week and tag pair (a re-run overwrites its weeks)
-> registry.costs.analyse_week: totals per service, team and owner; budgets;
   growth over a relative and an absolute threshold; spend no service tag explains,
   and who probably answers for it
-> one message per cost watcher with their services (and, for team leads, teams)
   over budget or anomalous
-> markdown and table artifacts, and a PNG chart of cost per team per week
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from prefect import flow, get_run_logger
from prefect.artifacts import (
    create_image_artifact,
    create_markdown_artifact,
    create_table_artifact,
)
from pydantic import BaseModel, Field

from blocks import AWS_BLOCK, AwsAccount, load_block
from flows.engine.notify_failure import flow_run_ui_url, notify_people
from flows.engine.runtime import journaled
from flows.engine.session import registry_session
from flows.journal.charts import png_data_url, weekly_stacked_bars_png
from flows.request_models.cost import CostAuditRequest
from registry import costs
from registry.costs import CostAnalysis, CostRow
from tasks.aws.cost import weekly_costs_task

__all__ = ["ACTION", "CostAuditRequest", "CostAuditResult", "audit_cost", "last_full_week"]

ACTION = "audit:cost"
ARTIFACT_KEY = "cost-audit"


def last_full_week(today: date) -> date:
    """The Monday starting the last complete week before ``today``."""
    return today - timedelta(days=today.weekday() + 7)


class CostAuditResult(BaseModel):
    """The audited week in figures, and who was told."""

    week_start: date = Field(description="Monday of the audited week.")
    unit: str = Field(description="Currency.")
    total: Decimal = Field(description="Spend of the week.")
    untagged: Decimal = Field(description="Spend without a paved:service tag.")
    untagged_share: float = Field(description="untagged / total.")
    by_service: dict[str, Decimal] = Field(description="Spend per registered service.")
    by_team: dict[str, Decimal] = Field(description="Spend per team.")
    by_owner: dict[str, Decimal] = Field(description="Spend per accountable owner.")
    over_budget: list[str] = Field(description="Services and teams (team:<slug>) over budget.")
    anomalous: list[str] = Field(description="Services and teams growing past both thresholds.")
    notified: dict[str, str] = Field(description="Cost watcher -> notification outcome.")
    calls: int = Field(description="Cost Explorer calls made.")


def _money(amount: Decimal, unit: str) -> str:
    return f"{amount:,.2f} {unit}"


def _flags(over: bool, anomalous: bool) -> str:
    return " ".join(flag for flag, on in (("over budget", over), ("anomaly", anomalous)) if on)


def _watcher_messages(analysis: CostAnalysis, run_url: str | None) -> dict[str, str]:
    """Per cost watcher (a service's, or a team's lead), what is over budget or growing."""
    lines: dict[str, list[str]] = defaultdict(list)
    unit = analysis.unit
    for s in analysis.services:
        if s.cost_watcher and (s.over_budget or s.anomalous):
            budget = _money(s.budget, unit) if s.budget is not None else "no budget"
            lines[s.cost_watcher].append(
                f"- service {s.service}: {_money(s.amount, unit)} (budget {budget}; previous "
                f"week {_money(s.previous, unit)}) — {_flags(s.over_budget, s.anomalous)}"
            )
    for t in analysis.teams:
        if t.lead and (t.over_budget or t.anomalous):
            budget = _money(t.budget, unit) if t.budget is not None else "no budget"
            lines[t.lead].append(
                f"- team {t.team}: {_money(t.amount, unit)} (budget {budget}; previous week "
                f"{_money(t.previous, unit)}) — {_flags(t.over_budget, t.anomalous)}"
            )
    footer = [
        "",
        f"Week of {analysis.week_start}. Details: `paved run audit:cost` artifacts"
        + (f" at {run_url}" if run_url else "")
        + ".",
    ]
    return {
        watcher: "\n".join(
            [
                f"Hello {watcher}, spend to look at for the week of {analysis.week_start}:",
                "",
                *entries,
                *footer,
            ]
        )
        for watcher, entries in lines.items()
    }


def _markdown(analysis: CostAnalysis, notified: dict[str, str]) -> str:
    unit = analysis.unit
    lines = [
        f"# Cost audit, week of {analysis.week_start}",
        "",
        f"**{_money(analysis.total, unit)}** spent · **{analysis.untagged_share:.1%}** "
        f"({_money(analysis.untagged, unit)}) without a `paved:service` tag",
        "",
        "## Services",
        "",
        "| service | team | owner | spend | previous | budget | |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    lines += [
        f"| {s.service} | {s.team} | {s.owner} | {_money(s.amount, unit)} | "
        f"{_money(s.previous, unit)} | {_money(s.budget, unit) if s.budget is not None else '-'}"
        f" | {_flags(s.over_budget, s.anomalous)} |"
        for s in analysis.services
    ] or ["| none | | | | | | |"]
    lines += ["", "## Teams", "", "| team | lead | spend | previous | budget | |"]
    lines.append("|---|---|---:|---:|---:|---|")
    lines += [
        f"| {t.team} | {t.lead or '-'} | {_money(t.amount, unit)} | {_money(t.previous, unit)} "
        f"| {_money(t.budget, unit) if t.budget is not None else '-'} | "
        f"{_flags(t.over_budget, t.anomalous)} |"
        for t in analysis.teams
    ] or ["| none | | | | | |"]
    lines += ["", "## Accountable owners", "", "| owner | spend |", "|---|---:|"]
    lines += [
        f"| {owner} | {_money(amount, unit)} |"
        for owner, amount in sorted(analysis.by_owner.items(), key=lambda kv: -kv[1])
    ] or ["| none | |"]
    lines += ["", "## Spend no registered service explains", ""]
    lines += [
        f"- {_money(u.amount, unit)} tagged service={u.service_tag or '∅'} "
        f"team={u.team_tag or '∅'}: probably {u.probable_owner or 'nobody known'} ({u.reason})"
        for u in analysis.unattributed
    ] or ["- none"]
    if notified:
        lines += ["", "## Told", ""] + [f"- {who}: {how}" for who, how in notified.items()]
    return "\n".join(lines)


@flow(
    name="audit-cost",
    flow_run_name="audit-cost/weekly",
    description="audit:cost: spend per service, team and owner; budgets, anomalies, untagged.",
    validate_parameters=True,
)
def audit_cost(request: CostAuditRequest) -> CostAuditResult:
    """Fetch, keep and read one week's spend; tell cost watchers what needs a look."""
    week = request.week_start or last_full_week(datetime.now(UTC).date())
    first_week = week - timedelta(weeks=request.weeks - 1)
    with journaled(action=ACTION, request=request, team=request.team, service="all") as journal:
        usage = weekly_costs_task(
            load_block(AwsAccount, AWS_BLOCK), start=first_week, end=week + timedelta(days=7)
        )
        rows = [
            CostRow(
                week_start=row.week_start,
                service=row.service or "",
                team=row.team or "",
                amount=row.amount,
                unit=row.unit,
            )
            for row in usage.rows
        ]
        with registry_session() as session:
            if not request.dry_run:
                costs.record_costs(session, rows=rows)
            analysis = costs.analyse_week(
                session,
                week_start=week,
                growth_ratio=request.growth_ratio,
                growth_usd=request.growth_usd,
            )
            series = costs.cost_series(session, since=first_week)
        notified: dict[str, str] = {}
        if not request.dry_run:
            run_url = flow_run_ui_url(journal.flow_run_id)
            for watcher, body in _watcher_messages(analysis, run_url).items():
                outcome = notify_people(
                    [watcher], subject=f"Paved: spend to look at, week of {week}", body=body
                )
                notified[watcher] = outcome.get(watcher, "not sent")
        create_markdown_artifact(
            key=ARTIFACT_KEY, markdown=_markdown(analysis, notified), description="Cost audit"
        )
        create_table_artifact(
            key=f"{ARTIFACT_KEY}-services",
            table=[
                {
                    "service": s.service,
                    "team": s.team,
                    "owner": s.owner,
                    "amount": str(s.amount),
                    "previous": str(s.previous),
                    "budget": None if s.budget is None else str(s.budget),
                    "over_budget": s.over_budget,
                    "anomalous": s.anomalous,
                }
                for s in analysis.services
            ]
            or [{"service": "none"}],
            description=f"Spend per service, week of {week}",
        )
        if series:
            png = weekly_stacked_bars_png(
                {w: {team: float(a) for team, a in teams.items()} for w, teams in series.items()},
                title="Cost per team per week",
                ylabel=analysis.unit,
            )
            create_image_artifact(
                image_url=png_data_url(png),
                key=f"{ARTIFACT_KEY}-chart",
                description=f"Cost per team per week, {first_week} to {week}",
            )
        over = [s.service for s in analysis.services if s.over_budget]
        over += [f"team:{t.team}" for t in analysis.teams if t.over_budget]
        anomalous = [s.service for s in analysis.services if s.anomalous]
        anomalous += [f"team:{t.team}" for t in analysis.teams if t.anomalous]
        get_run_logger().info(
            "Week of %s: %s %s, %.1f%% untagged; over budget %s; anomalous %s",
            week,
            analysis.total,
            analysis.unit,
            100 * analysis.untagged_share,
            over,
            anomalous,
        )
        return CostAuditResult(
            week_start=week,
            unit=analysis.unit,
            total=analysis.total,
            untagged=analysis.untagged,
            untagged_share=analysis.untagged_share,
            by_service={s.service: s.amount for s in analysis.services},
            by_team={t.team: t.amount for t in analysis.teams},
            by_owner=analysis.by_owner,
            over_budget=over,
            anomalous=anomalous,
            notified=notified,
            calls=usage.calls,
        )
