"""The request of `audit:cost` (flows.audits.cost): which week, against what thresholds."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import Field, field_validator

from flows.engine.request import PavedRequest

__all__ = ["SYSTEM_REQUESTER", "CostAuditRequest"]

SYSTEM_REQUESTER = "paved-audit"


class CostAuditRequest(PavedRequest):
    """Which week to audit, against what thresholds."""

    requester: str = Field(
        default=SYSTEM_REQUESTER,
        description="Who asked: your GitHub handle, or paved-audit for the weekly schedule.",
    )
    week_start: date | None = Field(
        default=None,
        description="Monday of the week to audit (UTC); default: the last complete week.",
    )
    weeks: int = Field(
        default=8, ge=2, le=52, description="Weeks of history to fetch and chart (at least 2)."
    )
    growth_ratio: float = Field(
        default=0.5,
        gt=0,
        description="Week-over-week growth that counts as an anomaly, relative (0.5 = +50%)...",
    )
    growth_usd: Decimal = Field(
        default=Decimal(50), ge=0, description="...and absolute, in USD: both must be exceeded."
    )
    team: str = Field(default="platform", description="Team the run is journaled under.")

    @field_validator("week_start")
    @classmethod
    def _monday(cls, value: date | None) -> date | None:
        if value is not None and value.weekday() != 0:
            raise ValueError(f"{value} is a {value:%A}; weeks start on Monday")
        return value
