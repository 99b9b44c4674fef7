"""The self-serve catalog: every action Paved offers, in one place.

Each entry names the action id (which also names its deployment and its journal rows),
the flow, and the request model the Prefect UI renders as a form. `paved actions` lists
this; `paved run` validates parameters against `request_model` before creating a run;
a test sweeps it against prefect.yaml so no action ships without its deployment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prefect import Flow

from flows.action_request import PavedRequest
from flows.github_repo_create import RepoCreateRequest, github_repo_create

__all__ = ["ACTIONS", "Action", "action"]


@dataclass(frozen=True)
class Action:
    """One self-serve action."""

    id: str
    flow: Flow[..., Any]
    request_model: type[PavedRequest]
    summary: str
    sensitive: bool = False
    """Whether runs may pause for the change approver's approval."""

    @property
    def deployment(self) -> str:
        """The deployment's full name, `<flow name>/<action id>`."""
        return f"{self.flow.name}/{self.id}"


ACTIONS: dict[str, Action] = {
    entry.id: entry
    for entry in (
        Action(
            id="github:repo:create",
            flow=github_repo_create,
            request_model=RepoCreateRequest,
            summary="A repository from the golden-path template, owned and protected.",
        ),
    )
}


def action(action_id: str) -> Action:
    """The action `action_id`; KeyError names the known ones."""
    try:
        return ACTIONS[action_id]
    except KeyError:
        known = ", ".join(sorted(ACTIONS))
        raise KeyError(f"no action {action_id!r}; the catalog has: {known}") from None
