"""The request of `ops:manual-task:record` (flows.actions.manual_task)."""

from __future__ import annotations

from pydantic import Field, field_validator

from flows.engine.request import PavedRequest
from registry import policy

__all__ = ["ManualTaskRequest"]


class ManualTaskRequest(PavedRequest):
    """A task done by hand, to be counted."""

    what: str = Field(min_length=10, max_length=500, description="What was asked and done.")
    category: str = Field(
        min_length=1,
        max_length=64,
        description="Kind of task, e.g. `credentials`, `database`, `dns` (groups the report).",
    )
    team: str = Field(description="The team the task was done for.")
    service: str | None = Field(default=None, description="The service concerned, if any.")
    minutes_spent: int = Field(ge=1, le=1440, description="Minutes it took.")

    @field_validator("what", "category")
    @classmethod
    def _one_line(cls, value: str) -> str:
        # Both reach the journal report's markdown: one line, never a second paragraph.
        return policy.require_one_line(value, what="a manual task's text", max_len=500)
