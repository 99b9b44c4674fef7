"""`journal:report` and `ops:manual-task:record`, in-process on a real registry."""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from io import BytesIO
from typing import Any

import pytest
from PIL import Image
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from sqlalchemy.orm import Session

from flows.actions.manual_task import ManualTaskRequest, ManualTaskResult, manual_task_record
from flows.journal.charts import CHART_SIZE_PX, png_data_url
from flows.journal.report import journal_chart_png, journal_report
from registry import queries
from registry.db import make_engine, session_scope
from registry.reports import MANUAL_ACTION, MANUAL_PREFIX, JournalReport, requests_per_week

pytestmark = pytest.mark.usefixtures("paved_blocks")


@contextmanager
def registry(url: str) -> Iterator[Session]:
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            yield session
    finally:
        engine.dispose()


def journal_runs(url: str) -> None:
    start = datetime.now(UTC) - timedelta(hours=2)
    with registry(url) as session:
        for run_id, state, error in [
            ("a", "Completed", None),
            ("b", "Completed", None),
            ("c", "Failed", "TransientProviderError: kafka down"),
        ]:
            queries.append_journal(
                session,
                flow_run_id=run_id,
                action="kafka:topics:create",
                requester="dave",
                team="payments",
                service="orders",
                parameters={},
                state=state,
                started_at=start,
                ended_at=start + timedelta(seconds=30),
                error=error,
            )


def week_of(moment: datetime) -> date:
    """The Monday starting the ISO week of `moment` (UTC)."""
    day = moment.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


def manual(**overrides: Any) -> dict[str, Any]:
    return {
        "what": "Reset the staging database of orders",
        "category": "database",
        "requester": "carol",
        "team": "payments",
        "minutes_spent": 45,
        **overrides,
    }


def test_manual_task_is_journaled_under_its_run(registry_url: str) -> None:
    state = manual_task_record(request=manual(), return_state=True)  # type: ignore[call-overload]
    assert state.is_completed()
    result = state.result()
    assert isinstance(result, ManualTaskResult)
    with registry(registry_url) as session:
        [entry] = queries.journal_for_run(session, flow_run_id=result.flow_run_id)
        assert (entry.action, entry.state, entry.manual, entry.minutes_spent) == (
            MANUAL_ACTION,
            "Completed",
            True,
            45,
        )
        assert entry.parameters["category"] == "database"
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(result.flow_run_id)  # type: ignore[arg-type]
    assert f"action:{MANUAL_ACTION}" in run.tags and "team:payments" in run.tags


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"what": "short"}, "what"),
        ({"minutes_spent": 0}, "minutes_spent"),
        ({"minutes_spent": 1441}, "minutes_spent"),
    ],
)
def test_manual_task_requests_are_validated(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        ManualTaskRequest(**manual(**overrides))


def test_manual_task_for_an_unknown_team_fails(registry_url: str) -> None:
    state = manual_task_record(request=manual(team="nobody"), return_state=True)  # type: ignore[call-overload]
    assert state.is_failed()
    with registry(registry_url) as session:
        assert queries.latest_journal(session, action=MANUAL_ACTION) == []


def test_report_flow_returns_the_report_and_publishes_artifacts(registry_url: str) -> None:
    journal_runs(registry_url)
    for _ in range(2):
        manual_task_record(request=manual())
    state = journal_report(since_days=7, return_state=True)  # type: ignore[call-overload]
    assert state.is_completed()
    report = state.result()
    assert isinstance(report, JournalReport)
    assert report.by_action == {"kafka:topics:create": 3, MANUAL_ACTION: 2}
    assert report.failure_rate == pytest.approx(1 / 3)
    assert [(c.category, c.count, c.score) for c in report.automation_candidates] == [
        ("database", 2, 90.0)
    ]
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])
            )
        )
    by_key = {artifact.key: artifact for artifact in artifacts}
    assert set(by_key) == {
        "journal-report",
        "journal-report-actions",
        "journal-report-candidates",
        "journal-report-chart",
    }
    markdown = str(by_key["journal-report"].data)
    assert "kafka:topics:create" in markdown and "TransientProviderError: kafka down" in markdown
    assert by_key["journal-report-candidates"].type == "table"

    # The chart went through the server's artifacts API as a data: URL and came back
    # unchanged: the very PNG drawn from the same weekly counts.
    chart = by_key["journal-report-chart"]
    with registry(registry_url) as session:
        weeks = requests_per_week(session, since=report.since)
    totals: Counter[str] = Counter()
    for counts in weeks.values():
        totals.update(counts)
    assert totals == {"kafka:topics:create": 3, f"{MANUAL_PREFIX}database": 2}
    # Runs of two hours ago and of now: one week, or two on a Monday morning.
    now = datetime.now(UTC)
    assert set(weeks) <= {week_of(now - timedelta(hours=2)), week_of(now)}
    expected = journal_chart_png(weeks, since=report.since)
    assert chart.type == "image"
    assert chart.data == png_data_url(expected)
    png = base64.b64decode(str(chart.data).removeprefix("data:image/png;base64,"))
    with Image.open(BytesIO(png)) as image:
        assert (image.format, image.size) == ("PNG", CHART_SIZE_PX)
