"""What every self-serve request has in common, so each action's model stays about its action."""

from __future__ import annotations

from typing import Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr

from registry import policy

__all__ = ["PavedRequest", "one_line", "redacted"]

# Field names whose values never reach the journal, whatever their type.
_SENSITIVE_WORDS = ("token", "secret", "password", "code", "key")


class PavedRequest(BaseModel):
    """Base of every action's request: the Prefect UI renders it as the run form."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False, frozen=True)

    requester: str = Field(
        description="GitHub handle of the person asking; must be a member of the owning team."
    )
    dry_run: bool = Field(
        default=False,
        description="Validate and show what would be created or changed, touching nothing.",
    )


def one_line(what: str, *, max_len: int) -> AfterValidator:
    """For `Annotated[str, one_line("reason", max_len=500)]`: free text that reaches a
    notification, a form, an artifact or a log is one printable line, bounded."""
    return AfterValidator(lambda value: policy.require_one_line(value, what=what, max_len=max_len))


def redacted(request: BaseModel) -> dict[str, Any]:
    """The request as JSON for the journal, with secrets and sensitive fields masked."""
    data = request.model_dump(mode="json")
    for name, value in request:
        if isinstance(value, SecretStr) or any(word in name.lower() for word in _SENSITIVE_WORDS):
            data[name] = "**********"
    return data
