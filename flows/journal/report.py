"""`journal:report` — the weekly journal report as Prefect artifacts.

Counts by action, team and final state, p50/p95 durations, the failure rate and its top
reasons, and the manual tasks worth automating (count x minutes), built by
`registry.reports.build_report` (which `paved journal report` uses too) and published as
a markdown artifact and table artifacts under the key `journal-report`, with a PNG chart
of requests per week by action (`journal-report-chart`, an image artifact whose URL is a
`data:` URL: the image is stored with the run, no file server needed).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

from prefect import flow, get_run_logger
from prefect.artifacts import (
    create_image_artifact,
    create_markdown_artifact,
    create_table_artifact,
)

from flows.engine.session import registry_session
from flows.journal.charts import png_data_url, weekly_stacked_bars_png
from registry import policy
from registry.reports import JournalReport, build_report, requests_per_week

__all__ = ["ACTION", "CHART_KEY", "journal_chart_png", "journal_report", "report_markdown"]

ACTION = "journal:report"
ARTIFACT_KEY = "journal-report"
CHART_KEY = f"{ARTIFACT_KEY}-chart"


def journal_chart_png(weeks: Mapping[date, Mapping[str, int]], *, since: datetime) -> bytes:
    """The report's chart: `registry.reports.requests_per_week` as stacked weekly bars.

    The flow's image artifact and `paved journal report --chart` both draw it here.
    """
    return weekly_stacked_bars_png(
        weeks,
        title=f"Requests per week by action since {since:%Y-%m-%d} (manual tasks by category)",
        ylabel="runs",
    )


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _counts(title: str, counts: dict[str, int]) -> list[str]:
    lines = [f"### {title}", "", "| | runs |", "|---|---:|"]
    lines += [f"| {name or '-'} | {count} |" for name, count in counts.items()]
    return [*lines, ""]


def report_markdown(report: JournalReport) -> str:
    """The report as markdown for the Prefect UI."""
    lines = [
        f"# Journal report since {report.since:%Y-%m-%d}",
        "",
        f"**{report.runs}** runs · failure rate **{report.failure_rate:.1%}** · "
        f"p50 **{_seconds(report.p50_seconds)}** · p95 **{_seconds(report.p95_seconds)}** · "
        f"**{report.manual_tasks}** manual tasks ({report.manual_minutes:.0f} min)",
        "",
        "## Automation candidates (count x minutes)",
        "",
        "| category | count | minutes | mean | score | latest |",
        "|---|---:|---:|---:|---:|---|",
    ]
    lines += [
        f"| {c.category} | {c.count} | {c.total_minutes:.0f} | {c.mean_minutes:.0f} | "
        f"{c.score:.0f} | {c.example} |"
        for c in report.automation_candidates
    ] or ["| none logged | | | | | |"]
    lines += [
        "",
        "## Automated actions",
        "",
        "| action | runs | completed | failed | failure rate | p50 | p95 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {a.action} | {a.runs} | {a.completed} | {a.failed} | {a.failure_rate:.1%} | "
        f"{_seconds(a.p50_seconds)} | {_seconds(a.p95_seconds)} |"
        for a in report.actions
    ]
    lines += ["", "## Top failure reasons", ""]
    # A failure reason is an error message, which may quote what someone typed.
    lines += [
        f"- {r.count} x {policy.escape_markdown(r.reason, 200)}" for r in report.top_failure_reasons
    ] or ["- none"]
    lines.append("")
    lines += _counts("By team", report.by_team)
    lines += _counts("By state", report.by_state)
    return "\n".join(lines)


@flow(name="journal-report")
def journal_report(since_days: int = 7) -> JournalReport:
    """Report on the journal of the last `since_days` days, as artifacts and as a result."""
    since = datetime.now(UTC) - timedelta(days=since_days)
    with registry_session() as session:
        report = build_report(session, since=since)
        weeks = requests_per_week(session, since=since)
    create_markdown_artifact(
        key=ARTIFACT_KEY,
        markdown=report_markdown(report),
        description=f"Journal report since {since:%Y-%m-%d}",
    )
    create_table_artifact(
        key=f"{ARTIFACT_KEY}-actions",
        table=[a.model_dump(mode="json") for a in report.actions],
        description="Automated actions: runs, failures, p50/p95 seconds",
    )
    create_table_artifact(
        key=f"{ARTIFACT_KEY}-candidates",
        table=[c.model_dump(mode="json") for c in report.automation_candidates],
        description="Manual tasks ranked by count x minutes",
    )
    create_image_artifact(
        image_url=png_data_url(journal_chart_png(weeks, since=since)),
        key=CHART_KEY,
        description=f"Requests per week by action since {since:%Y-%m-%d} (PNG)",
    )
    get_run_logger().info(
        "%d runs since %s, %d manual tasks", report.runs, since.date(), report.manual_tasks
    )
    return report
