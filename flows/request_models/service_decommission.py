"""The request of `service:decommission` (flows.actions.service_decommission)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from flows.engine.request import PavedRequest, one_line

__all__ = ["DecommissionRequest"]


class DecommissionRequest(PavedRequest):
    """Remove a service's resources and retire it, after its change approver approves."""

    service: str = Field(description="The service to decommission.")
    confirm: str = Field(description="Type the service's name again, to show you mean it.")
    reason: Annotated[str, one_line("reason", max_len=500)] = Field(
        min_length=10, max_length=500, description="Why it goes (journaled)."
    )
    approval_timeout_seconds: int = Field(
        default=3600,
        ge=10,
        le=7 * 24 * 3600,
        description="How long to wait for the change approver; no answer means rejected.",
    )

    @model_validator(mode="after")
    def _confirmed(self) -> DecommissionRequest:
        if self.confirm != self.service:
            raise ValueError(
                f"confirm must repeat the service name {self.service!r} exactly "
                f"(got {self.confirm!r})"
            )
        return self
