"""The request of `service:transfer` (flows.actions.service_transfer)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from flows.engine.request import PavedRequest, one_line

__all__ = ["TransferRequest"]


class TransferRequest(PavedRequest):
    """Give a service a new accountable owner and/or a new owning team."""

    service: str = Field(description="The service to transfer.")
    new_owner: str | None = Field(
        default=None, description="The new accountable owner; empty keeps the current one."
    )
    new_team: str | None = Field(
        default=None, description="The new owning team; empty keeps the current one."
    )
    new_change_approver: str | None = Field(
        default=None,
        description=(
            "The new change approver, an active member of the owning team; empty keeps the "
            "current one (the new team's lead when the team changes)."
        ),
    )
    new_oncall: str | None = Field(
        default=None,
        description="The new on-call contact; empty keeps the current one (or the new owner).",
    )
    new_cost_watcher: str | None = Field(
        default=None,
        description="The new cost watcher; empty keeps the current one (the new team's lead).",
    )
    reason: Annotated[str, one_line("reason", max_len=500)] = Field(
        min_length=10, max_length=500, description="Why (journaled)."
    )
    approval_timeout_seconds: int = Field(
        default=3600, ge=10, le=86400, description="How long to wait for the approval."
    )

    @model_validator(mode="after")
    def _changes_something(self) -> TransferRequest:
        if all(
            value is None
            for value in (
                self.new_owner,
                self.new_team,
                self.new_change_approver,
                self.new_oncall,
                self.new_cost_watcher,
            )
        ):
            raise ValueError(
                "give at least one of new_owner, new_team, new_change_approver, new_oncall "
                "and new_cost_watcher"
            )
        return self
