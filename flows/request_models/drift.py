"""The request of `audit:drift` (flows.audits.drift): which providers, whether to restore."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from flows.engine.request import PavedRequest

__all__ = ["PROVIDERS", "SYSTEM_REQUESTER", "DriftAuditRequest", "ProviderName"]

SYSTEM_REQUESTER = "paved-audit"

ProviderName = Literal["github", "aws", "kafka"]
PROVIDERS: tuple[ProviderName, ...] = ("github", "aws", "kafka")


class DriftAuditRequest(PavedRequest):
    """What to audit, and whether to restore what changed."""

    requester: str = Field(
        default=SYSTEM_REQUESTER,
        description="Who asked: your GitHub handle, or paved-audit for the daily schedule.",
    )
    providers: list[ProviderName] = Field(
        default_factory=lambda: list(PROVIDERS),
        min_length=1,
        description="Providers to list: github, aws, kafka.",
    )
    remediate: bool = Field(
        default=False,
        description="After each service's change approver approves, restore declared settings "
        "and tags of its changed and mistagged resources. Never deletes anything.",
    )
    services: list[str] = Field(
        default_factory=list,
        description="With remediate: only these services (empty: every service with findings).",
    )
    reminder_days: int = Field(
        default=7, ge=1, le=90, description="Days before an owner is reminded of open findings."
    )
    fallback_team: str = Field(
        default="platform",
        description="Team whose lead hears of what nobody else answers for (unmanaged things "
        "named after no known team or service).",
    )
    approval_timeout_seconds: int = Field(
        default=3600, ge=10, le=7 * 86400, description="How long each approval may take."
    )
